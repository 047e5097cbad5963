//! Hands trigger events to the orchestrator: POST to `dispatcher.url`, or stdout in debug mode.
//! An event the dispatcher cannot take now (5xx, 408, 429, no connection) is retried with
//! backoff until it is accepted or the trigger is asked to stop: never dropped. An event it
//! refuses for good (any other 4xx: it will never take it as it is) is returned as refused, so
//! the trigger sets it aside and goes on instead of stalling on it forever.
//!
//! Each attempt waits as long as the dispatcher takes to answer (a slow dispatcher does not get
//! the event twice): an attempt ends only when the connection breaks, and only then is the
//! event sent again, with the same event ID.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::halt::Halt;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Accepted,
    /// Refused for good: HTTP status and what the dispatcher said (cut short).
    Refused {
        status: u16,
        reason: String,
    },
}

pub enum Dispatcher {
    Http { url: String, client: reqwest::Client },
    Stdout,
}

/// Whether an HTTP answer refuses an event for good rather than for now.
pub fn refuses_for_good(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

impl Dispatcher {
    pub fn http(url: &str) -> Self {
        // No overall timeout: see the module comment. Keep-alive probes find a dead peer.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Dispatcher::Http { url: url.to_string(), client }
    }

    /// Deliver one `trigger_event` message, retrying until accepted, refused for good, or until
    /// `stop` is set.
    pub async fn send(&self, msg: &Value, stop: &mut watch::Receiver<bool>) -> Result<Delivered, Halt> {
        match self {
            Dispatcher::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer(&mut out, msg);
                let _ = out.write_all(b"\n");
                let _ = out.flush();
                Ok(Delivered::Accepted)
            }
            Dispatcher::Http { url, client } => {
                let mut backoff = crate::halo::Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
                let mut failures = 0u32;
                loop {
                    if *stop.borrow() {
                        return Err(Halt::Stopped);
                    }
                    let attempt = client.post(url).json(msg).send();
                    let outcome = tokio::select! {
                        r = attempt => r,
                        _ = stop.changed() => return Err(Halt::Stopped),
                    };
                    let problem = match outcome {
                        Ok(r) if r.status().is_success() => {
                            if failures > 0 {
                                tracing::info!("The dispatcher accepted the event after {failures} failed attempt(s)");
                            }
                            return Ok(Delivered::Accepted);
                        }
                        Ok(r) if refuses_for_good(r.status().as_u16()) => {
                            let status = r.status().as_u16();
                            let body = r.text().await.unwrap_or_default();
                            let reason: String = body.chars().filter(|c| !c.is_control()).take(200).collect();
                            return Ok(Delivered::Refused { status, reason });
                        }
                        Ok(r) => format!("HTTP {}", r.status().as_u16()),
                        Err(e) => crate::halo::describe_transport(&e),
                    };
                    failures += 1;
                    if failures == 1 || failures % 10 == 0 {
                        tracing::warn!("The dispatcher did not accept the event ({problem}); retrying until it does (attempt {failures})");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = stop.changed() => return Err(Halt::Stopped),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A dispatcher on loopback that takes `answer_after` (on the test's clock) to answer each
    /// event with `status`; returns its URL and how many events it was sent.
    async fn dispatcher(answer_after: Duration, status: u16) -> (String, Arc<AtomicUsize>) {
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move || {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(answer_after).await;
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, received)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_dispatcher_gets_the_event_once() {
        // Ten minutes to answer (on a paused clock, which runs ahead whenever all are waiting).
        let (url, received) = dispatcher(Duration::from_secs(600), 200).await;
        let (_tx, mut stop) = watch::channel(false);
        let (dispatcher, event) = (Dispatcher::http(&url), serde_json::json!({"event": 1}));
        let got = tokio::time::timeout(Duration::from_secs(3600), dispatcher.send(&event, &mut stop)).await;
        assert_eq!(received.load(Ordering::SeqCst), 1, "waited for the answer instead of sending again");
        assert_eq!(got.expect("answered within the hour").unwrap(), Delivered::Accepted);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_for_good_is_returned_after_one_attempt() {
        let (url, received) = dispatcher(Duration::ZERO, 413).await;
        let (_tx, mut stop) = watch::channel(false);
        let got = Dispatcher::http(&url).send(&serde_json::json!({"event": 1}), &mut stop).await.unwrap();
        assert!(matches!(got, Delivered::Refused { status: 413, .. }), "{got:?}");
        assert_eq!(received.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn only_a_refusal_that_will_not_change_is_for_good() {
        for s in [400, 401, 403, 404, 409, 413, 422] {
            assert!(refuses_for_good(s), "{s}");
        }
        for s in [200, 408, 429, 500, 502, 503] {
            assert!(!refuses_for_good(s), "{s}");
        }
    }
}
