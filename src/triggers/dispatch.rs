//! Hands trigger events to the orchestrator: POST to `dispatcher.url`, or stdout in debug mode.
//! An event is retried with backoff until it is accepted or the trigger is asked to stop; it is
//! never dropped.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

/// The trigger was asked to stop while an event was still waiting to be accepted.
#[derive(Debug)]
pub struct Stopped;

pub enum Dispatcher {
    Http { url: String, client: reqwest::Client },
    Stdout,
}

impl Dispatcher {
    pub fn http(url: &str) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        Dispatcher::Http { url: url.to_string(), client }
    }

    /// Deliver one `trigger_event` message, retrying until accepted or until `stop` is set.
    pub async fn send(&self, msg: &Value, stop: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
        match self {
            Dispatcher::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer(&mut out, msg);
                let _ = out.write_all(b"\n");
                let _ = out.flush();
                Ok(())
            }
            Dispatcher::Http { url, client } => {
                let mut delay = Duration::from_millis(200);
                let mut failures = 0u32;
                loop {
                    if *stop.borrow() {
                        return Err(Stopped);
                    }
                    let outcome = client.post(url).json(msg).send().await;
                    let problem = match outcome {
                        Ok(r) if r.status().is_success() => {
                            if failures > 0 {
                                tracing::info!("The dispatcher accepted the event after {failures} failed attempt(s)");
                            }
                            return Ok(());
                        }
                        Ok(r) => format!("HTTP {}", r.status().as_u16()),
                        Err(e) => crate::halo::describe_transport(&e),
                    };
                    failures += 1;
                    if failures == 1 || failures % 10 == 0 {
                        tracing::warn!("The dispatcher did not accept the event ({problem}); retrying until it does (attempt {failures})");
                    }
                    let jittered = delay / 2 + delay.mul_f64(fastrand::f64() / 2.0);
                    tokio::select! {
                        _ = tokio::time::sleep(jittered) => {}
                        _ = stop.changed() => return Err(Stopped),
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
