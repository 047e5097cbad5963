//! Many records in one request. HaloITSM's write endpoints take arrays (docs/halo-api.md#T2, A1)
//! and answer every saved record when asked with `returnall=true` (A14), so a batch of notes,
//! closes or new tickets costs one request instead of one each. A tenant may answer otherwise
//! (only the last record, fewer rows): callers match what came back to what they sent and look
//! up the rest before sending anything again. A tenant that refuses arrays of many is found out
//! on the first batch it refuses (each record then goes alone, and every one is taken) and sent
//! one record at a time from then on, for the rest of the connection.

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::Value;

use super::download::Expect;
use super::{HaloClient, HaloError, json_bytes};

/// The most records one request carries.
pub const MAX_BATCH: usize = 100;

/// What a POST of several records came to.
#[derive(Debug)]
pub enum Saved {
    /// One request for all: the records HaloITSM answered (all of them, fewer, or only the last).
    Together(Result<Vec<Value>, HaloError>),
    /// One request each (the tenant refuses arrays of many): each record's result, in order.
    Each(Vec<Result<Value, HaloError>>),
}

/// Whether this connection's tenant takes arrays of many records (until it is seen not to).
#[derive(Debug)]
pub struct ArraysTaken(AtomicBool);

impl Default for ArraysTaken {
    fn default() -> Self {
        ArraysTaken(AtomicBool::new(true))
    }
}

impl HaloClient {
    /// POST `records` to `path` in one request (`returnall=true`). A tenant that refuses the batch
    /// (HTTP 400) gets each record alone; when every one is then taken, arrays of many are what it
    /// refused, and later batches go one record at a time without trying first.
    pub async fn post_many(&self, path: &str, records: Vec<Value>) -> Saved {
        self.post_many_unless(path, records, &|_| false).await
    }

    /// As `post_many`, but a refusal whose message `whole` recognises (one that would refuse each
    /// record alone too) is answered as it is, without sending the records one by one.
    pub async fn post_many_unless(&self, path: &str, records: Vec<Value>, whole: &(dyn Fn(&str) -> bool + Sync)) -> Saved {
        if records.len() > 1 && self.arrays.0.load(Ordering::Relaxed) {
            match self.post_array(path, &records).await {
                Err(HaloError::Validation { status, message }) if !whole(&message) => {
                    let each = self.post_each(path, records).await;
                    if each.iter().all(Result::is_ok) {
                        tracing::warn!(
                            "HaloITSM refused {} records in one request to /{path} (HTTP {status}: {message}) but took each alone; sending one at a time from now on",
                            each.len()
                        );
                        self.arrays.0.store(false, Ordering::Relaxed);
                    }
                    return Saved::Each(each);
                }
                other => return Saved::Together(other),
            }
        }
        if records.len() == 1 {
            return Saved::Together(self.post_array(path, &records).await);
        }
        Saved::Each(self.post_each(path, records).await)
    }

    /// One request of all `records`: the saved records HaloITSM answered.
    async fn post_array(&self, path: &str, records: &[Value]) -> Result<Vec<Value>, HaloError> {
        let body = json_bytes(&Value::Array(records.to_vec()))?;
        let answer = self.send(Method::POST, path, &[("returnall", "true".to_string())], Some(body), Expect::Json).await?.into_json();
        Ok(match answer {
            Value::Array(rows) => rows.into_iter().filter(Value::is_object).collect(),
            v @ Value::Object(_) => vec![v],
            _ => Vec::new(),
        })
    }

    async fn post_each(&self, path: &str, records: Vec<Value>) -> Vec<Result<Value, HaloError>> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.post_one(path, r).await);
        }
        out
    }

    /// Whether batches of this connection still go as one request (false once the tenant was
    /// seen to refuse arrays of many).
    pub fn takes_arrays(&self) -> bool {
        self.arrays.0.load(Ordering::Relaxed)
    }
}
