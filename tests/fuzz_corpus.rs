//! Replays every file of fuzz/corpus/<target>/ through its parse path on stable Rust, so
//! whatever the fuzzer found (and the RFC 4475 messages it started from) stays covered in
//! the normal test run. Every truncation of every SIP corpus message is replayed too.

use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn sip_corpus_and_every_truncation_never_panic() {
    let inputs = corpus("sip");
    assert!(inputs.len() >= 49, "the RFC 4475 seeds are there");
    for data in &inputs {
        for end in 0..=data.len() {
            qonyrau::sip::fuzz_parse(&data[..end]);
        }
    }
}

#[test]
fn sdp_rtp_and_rfc4733_corpora_never_panic() {
    for data in corpus("sdp") {
        for end in 0..=data.len() {
            qonyrau::sdp::fuzz_sdp(&data[..end]);
        }
    }
    for data in corpus("rtp") {
        qonyrau::media::rtp::fuzz_rtp(&data);
    }
    for data in corpus("rfc4733") {
        qonyrau::media::dtmf::fuzz_rfc4733(&data);
    }
}
