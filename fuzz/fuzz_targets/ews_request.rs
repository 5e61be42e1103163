//! Fuzzes the EWS request parser: any bytes must produce a request or a schema error, never a
//! panic, a hang or unbounded memory. Run: `cargo +nightly fuzz run ews_request corpus/ews_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = naa_gateway::frontend::ews::request::parse_request(data);
});
