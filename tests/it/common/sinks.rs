//! Servers on loopback that take in what is posted to them, as the receivers of the plugin's and
//! the simulator's requests: a dispatcher collecting a trigger's events, an InsightConnect API
//! Trigger, a receiver of HaloITSM webhooks. One kind, told how to answer.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;

use super::{Lazy, eventually};

/// One POST a sink took in, and the status it answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub headers: HeaderMap,
    /// The JSON body (a body that is not JSON as a string).
    pub body: Value,
    pub status: u16,
}

impl Seen {
    fn accepted(&self) -> bool {
        self.status == 200
    }
}

struct Inner {
    seen: Mutex<Vec<Seen>>,
    /// The status to answer every POST with; 0 = as the other rules say.
    status: AtomicU16,
    /// Accept at most this many bodies, answering 503 beyond (counted in `turned_away`).
    cap: AtomicUsize,
    turned_away: AtomicUsize,
    /// The ticket whose events are refused for good (413, as an event too large).
    refusing: Mutex<Option<i64>>,
    /// The header and key every POST must carry (401 otherwise).
    api_key: Mutex<Option<(String, String)>>,
}

/// Stops the server when the last clone of its sink goes.
struct Serving(tokio::task::JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A server on 127.0.0.1 recording every POST, whatever the path, answering 200 unless told
/// otherwise; `url` is its address with the path it was started for.
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    inner: Arc<Inner>,
    _serving: Arc<Serving>,
}

impl Sink {
    /// A sink announced at `path`.
    pub async fn start(path: &str) -> Sink {
        let inner = Arc::new(Inner {
            seen: Mutex::default(),
            status: AtomicU16::new(0),
            cap: AtomicUsize::new(usize::MAX),
            turned_away: AtomicUsize::new(0),
            refusing: Mutex::default(),
            api_key: Mutex::default(),
        });
        let app = axum::Router::new().fallback(take).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the sink");
        let url = format!("http://{}{path}", listener.local_addr().expect("the sink's address"));
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink { url, inner, _serving: Arc::new(Serving(serving)) }
    }

    /// A dispatcher that collects a trigger's events, at `/events`.
    pub async fn events() -> Sink {
        Sink::start("/events").await
    }

    /// Answer every POST with `status` from now on (0: as the other rules say).
    pub fn answer_with(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    /// Refuse every POST without `header: key` (401), from now on.
    pub fn require_api_key(&self, header: &str, key: &str) {
        *self.inner.api_key.lock().unwrap() = Some((header.to_ascii_lowercase(), key.to_string()));
    }

    /// Refuse the events of this ticket for good (413), or none.
    pub fn refuse_ticket(&self, id: Option<i64>) {
        *self.inner.refusing.lock().unwrap() = id;
    }

    /// Accept `n` bodies in all and turn the next away; resolves once one was turned away.
    pub async fn accept_only(&self, n: usize) {
        self.inner.cap.store(n, Ordering::SeqCst);
        eventually(format!("a body beyond the first {n}"), async || self.inner.turned_away.load(Ordering::SeqCst) > 0).await;
    }

    pub fn accept_all(&self) {
        self.inner.cap.store(usize::MAX, Ordering::SeqCst);
    }

    /// Every POST taken in so far, whatever it was answered.
    pub fn posts(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// The bodies accepted so far (answered 200), in arrival order.
    pub fn bodies(&self) -> Vec<Value> {
        self.posts().into_iter().filter(Seen::accepted).map(|s| s.body).collect()
    }

    /// The `output` of each trigger event accepted so far.
    pub fn outputs(&self) -> Vec<Value> {
        self.bodies().iter().map(|e| e["body"]["output"].clone()).collect()
    }

    /// The accepted deliveries so far, batches (arrays) flattened, in arrival order.
    pub fn deliveries(&self) -> Vec<Value> {
        flatten(self.bodies())
    }

    /// How many POSTs were refused for want of the API key.
    pub fn refused(&self) -> usize {
        self.posts().iter().filter(|s| s.status == 401).count()
    }

    /// Wait until at least `n` POSTs arrived, however answered.
    pub async fn wait_posts(&self, n: usize) -> Vec<Seen> {
        let got = || Some(self.posts()).filter(|p| p.len() >= n);
        eventually(Lazy(|| format!("{n} POSTs, got {:#?}", self.posts())), async || got()).await
    }

    /// Wait until at least `n` bodies were accepted; returns them.
    pub async fn wait_bodies(&self, n: usize) -> Vec<Value> {
        let got = || Some(self.bodies()).filter(|b| b.len() >= n);
        eventually(Lazy(|| format!("{n} bodies, got {:#?}", self.bodies())), async || got()).await
    }

    /// Wait until at least `n` trigger events were accepted; returns their outputs.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        self.wait_bodies(n).await;
        self.outputs()
    }

    /// Wait until at least `n` deliveries were accepted, whatever the bodies they came in;
    /// returns the deliveries.
    pub async fn wait_deliveries(&self, n: usize) -> Vec<Value> {
        let got = || Some(self.deliveries()).filter(|d| d.len() >= n);
        eventually(Lazy(|| format!("{n} deliveries, got {:#?}", self.posts())), async || got()).await
    }
}

fn flatten(bodies: Vec<Value>) -> Vec<Value> {
    bodies
        .into_iter()
        .flat_map(|b| match b {
            Value::Array(items) => items,
            other => vec![other],
        })
        .collect()
}

async fn take(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let mut seen = inner.seen.lock().unwrap();
    let accepted = seen.iter().filter(|s| s.accepted()).count();
    let key = inner.api_key.lock().unwrap().clone();
    let status = if key.is_some_and(|(h, k)| header(&h).as_deref() != Some(k.as_str())) {
        StatusCode::UNAUTHORIZED
    } else if let s @ 1.. = inner.status.load(Ordering::SeqCst) {
        StatusCode::from_u16(s).unwrap_or(StatusCode::OK)
    } else if accepted >= inner.cap.load(Ordering::SeqCst) {
        inner.turned_away.fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE
    } else if inner.refusing.lock().unwrap().is_some_and(|id| body["body"]["output"]["ticket"]["id"].as_i64() == Some(id)) {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::OK
    };
    seen.push(Seen {
        path: uri.path().to_string(),
        auth: header("authorization"),
        content_type: header("content-type"),
        headers: headers.clone(),
        body,
        status: status.as_u16(),
    });
    status
}
