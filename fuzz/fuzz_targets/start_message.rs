//! Any bytes as a start message: JSON parsing, then the protocol's checks.
#![no_main]

use icon_haloitsm::protocol::StartMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = StartMessage::parse(&v);
    }
});
