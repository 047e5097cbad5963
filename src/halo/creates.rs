//! New tickets, one at a time per HaloITSM: creates that run at once collide on HaloITSM's side
//! while it numbers tickets (docs/halo-api.md#T15), so every create of this process waits for the
//! one before it on the same tenant, whichever step, connection or API application sends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde_json::Value;

use super::{HaloClient, HaloError};

/// The gate every create on one HaloITSM passes through.
pub(super) type CreateGate = Arc<tokio::sync::Mutex<()>>;

/// The one gate of a HaloITSM (`key`, `ConnectionConfig::tenant_key`), made on first use.
pub(super) fn gate_of(key: &str) -> CreateGate {
    static GATES: OnceLock<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut all = GATES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|_, g| g.strong_count() > 0);
    if let Some(g) = all.get(key).and_then(Weak::upgrade) {
        return g;
    }
    let g = Arc::new(tokio::sync::Mutex::new(()));
    all.insert(key.to_string(), Arc::downgrade(&g));
    g
}

impl HaloClient {
    /// Create one ticket (`POST /Tickets` of one new record) once no other create on this
    /// HaloITSM is under way; the saved ticket as HaloITSM answers it.
    pub async fn create_ticket(&self, record: Value) -> Result<Value, HaloError> {
        let _turn = self.creates.lock().await;
        self.post_one("Tickets", record).await
    }

    /// Create many tickets in one request (`batch`), once no other create on this HaloITSM is
    /// under way: what HaloITSM answered, to be matched to what was sent.
    pub async fn create_tickets(&self, records: Vec<Value>) -> super::batch::Saved {
        let _turn = self.creates.lock().await;
        self.post_many("Tickets", records).await
    }
}
