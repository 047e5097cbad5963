//! The mock HaloITSM's writes: the plugin sends records a batch to a request
//! (`POST /api/Tickets?returnall=true`, `POST /api/Actions?returnall=true`), so each record a test
//! expects is registered here with its answer, and one responder answers every batch record by
//! record: 200 with the saved records in order, or, when a record's answer is an error, that error
//! for the whole request (HaloITSM refuses a batch whole). Each expectation is met exactly as many
//! times as it says, checked by `verify`.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

/// What one expected record answers: the saved record, or an error for its whole request.
#[derive(Clone)]
pub enum Answer {
    Saved(Value),
    /// Saved, answered this late (a timeout on the plugin's side).
    SavedAfter(Value, std::time::Duration),
    Error(u16, Value),
}

/// Whether a record is the one expected.
type Takes = Box<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;

struct Expected {
    path: String,
    name: String,
    matches: Takes,
    answer: Answer,
    times: u64,
    hits: u64,
}

/// The expected records, shared by the responder and the test.
#[derive(Clone, Default)]
pub struct Writes(Arc<Mutex<Vec<Expected>>>);

impl Writes {
    /// Expect `times` records at `path` that `matches` takes, each answered `answer`.
    pub fn expect(
        &self,
        path: &str,
        name: String,
        matches: impl Fn(&Map<String, Value>) -> bool + Send + Sync + 'static,
        answer: Answer,
        times: u64,
    ) {
        self.0.lock().unwrap().push(Expected { path: path.into(), name, matches: Box::new(matches), answer, times, hits: 0 });
    }

    /// Take any number of records at `path`, each answered `answer` (not verified).
    pub fn allow(&self, path: &str, answer: Answer) {
        self.expect(path, format!("any record at {path}"), |_| true, answer, u64::MAX);
    }

    /// Every expectation met exactly as often as it says.
    pub fn verify(&self) {
        for e in self.0.lock().unwrap().iter().filter(|e| e.times != u64::MAX) {
            assert_eq!(e.hits, e.times, "{}: expected {} record(s), got {}", e.name, e.times, e.hits);
        }
    }
}

impl Respond for Writes {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&request.body) else {
            return ResponseTemplate::new(418).set_body_string("a write that is not a JSON array");
        };
        let mut all = self.0.lock().unwrap();
        let mut saved = Vec::new();
        let mut delay = None;
        for item in items {
            let Value::Object(record) = item else { return ResponseTemplate::new(418).set_body_string("an element that is no object") };
            let Some(e) = all.iter_mut().find(|e| e.path == request.url.path() && e.hits < e.times && (e.matches)(&record)) else {
                return ResponseTemplate::new(418).set_body_string(format!(
                    "unexpected record {} {}",
                    request.url.path(),
                    Value::Object(record)
                ));
            };
            e.hits += 1;
            match &e.answer {
                Answer::Saved(v) | Answer::SavedAfter(v, _) => {
                    if let Answer::SavedAfter(_, d) = &e.answer {
                        delay = Some(*d);
                    }
                    let mut row = record.clone();
                    row.extend(v.as_object().cloned().unwrap_or_default());
                    saved.push(Value::Object(row));
                }
                Answer::Error(status, Value::String(text)) => return ResponseTemplate::new(*status).set_body_string(text.clone()),
                Answer::Error(status, body) => return ResponseTemplate::new(*status).set_body_json(body.clone()),
            }
        }
        let answer = ResponseTemplate::new(200).set_body_json(json!(saved));
        match delay {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}
