//! Replays every file of fuzz/corpus/<target>/ through its parse path on stable Rust, so
//! whatever the fuzzer found (and the RFC 4475 messages it started from) stays covered in
//! the normal test run. Every truncation of the RFC 4475 seeds and of named regressions
//! (`regression-*`, inputs that once crashed) is replayed too.

use std::path::Path;

/// (is a seed or a named regression, bytes) for every file of the target's corpus.
fn corpus(target: &str) -> Vec<(bool, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let seed = name.ends_with(".dat") || name.starts_with("regression-");
            (seed, std::fs::read(p).unwrap())
        })
        .collect()
}

#[test]
fn sip_corpus_and_every_truncation_of_seeds_never_panic() {
    let inputs = corpus("sip");
    let seeds = inputs.iter().filter(|(seed, _)| *seed).count();
    assert!(
        seeds >= 50,
        "the RFC 4475 seeds and regressions are there ({seeds})"
    );
    for (seed, data) in inputs {
        if seed {
            for end in 0..=data.len() {
                qonyrau::sip::fuzz_parse(&data[..end]);
            }
        } else {
            qonyrau::sip::fuzz_parse(&data);
        }
    }
}

#[test]
fn sdp_rtp_and_rfc4733_corpora_never_panic() {
    let sdp = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sdp/offer");
    let seed = std::fs::read(sdp).expect("the SDP seed");
    for end in 0..=seed.len() {
        qonyrau::sdp::fuzz_sdp(&seed[..end]);
    }
    for (_, data) in corpus("sdp") {
        qonyrau::sdp::fuzz_sdp(&data);
    }
    for (_, data) in corpus("rtp") {
        qonyrau::media::rtp::fuzz_rtp(&data);
    }
    for (_, data) in corpus("rfc4733") {
        qonyrau::media::dtmf::fuzz_rfc4733(&data);
    }
}
