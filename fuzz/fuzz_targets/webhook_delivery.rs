//! Any bytes as the body of a HaloITSM webhook delivery (one object or a batch): the reading the
//! listener refuses a delivery by, then the engine's. A delivery the listener accepts names a
//! ticket the engine can use.
#![no_main]

use icon_haloitsm::ticket_events::delivery::Delivery;
use icon_haloitsm::triggers::read_delivery;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn one(d: &Value, i: usize) {
    let read = read_delivery(d);
    if let Ok(accepted) = Delivery::read(d, i) {
        assert!(accepted.ticket_id > 0, "accepted without a ticket: {d}");
        assert!(read.is_some_and(|(id, _)| id == accepted.ticket_id), "accepted but unreadable: {d}");
    }
}

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(batch)) => batch.iter().enumerate().for_each(|(i, d)| one(d, i)),
        Ok(d) => one(&d, 0),
        Err(_) => {}
    }
});
