//! Any bytes as a Prowler OCSF output file: reading it, then every finding in it.
#![no_main]

use icon_haloitsm::findings::ocsf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(findings) = ocsf::read_file(data) {
        for f in &findings {
            let _ = ocsf::parse(f);
        }
    }
});
