#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| qonyrau::media::dtmf::fuzz_rfc4733(data));
