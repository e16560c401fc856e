#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| qonyrau::media::rtp::fuzz_rtp(data));
