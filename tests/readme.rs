//! The README's commands work when pasted: `scripts/readme-check.sh` runs every block marked
//! `<!-- readme-check -->` in a fresh copy of the repository, against the `qonyrau` binary
//! cargo built for this test, with unusual ports in place of the documented defaults. SIPp
//! and baresip are real peers: missing, they fail the test under CI=true.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{peer, repo};

fn readme_check(env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo().join("scripts/readme-check.sh"))
        .env("QONYRAU_BIN", env!("CARGO_BIN_EXE_qonyrau"))
        .envs(env.iter().copied())
        .output()
        .expect("run scripts/readme-check.sh");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_readme_marks_the_first_five_minutes_for_checking() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    // The two-command contract: one command runs the server, one runs the suite.
    assert!(
        readme.contains("cargo run --release -- serve\n"),
        "{readme}"
    );
    assert!(readme.contains("bash scripts/test.sh\n"), "{readme}");
    let (ok, listed) = readme_check(&[("README_CHECK_LIST", "1")]);
    assert!(ok, "{listed}");
    for command in [
        "\"$QONYRAU_BIN\" serve\n",
        "sipp -sf tests/sipp/options.xml",
        "-s 100 -m 20 -d 4000",
        "-key sink_port 9",
        "/health",
        "/metrics",
        "users sip op1 --extension 2001",
        "auth_pass=sip-secret-2001",
        "audio_source     aufile,",
        "ctrl_tcp_listen",
        "baresip -f baresip-2001 -e '/dial sip:100@",
        "sipp -sf tests/sipp/ivr_info_operator.xml",
        "/api/v1/tickets -H \"authorization: Bearer $TOKEN\"",
        "accept-language: ru-RU",
        "\"$QONYRAU_BIN\" flows check",
    ] {
        assert!(
            listed.contains(command),
            "no checked README block runs `{command}`:\n{listed}"
        );
    }
    // No checked block reaches the documented default ports: they were all substituted.
    for default in [":5060", ":8080", "-p 25071", ":25100", ":24400"] {
        assert!(!listed.contains(default), "{default} left in:\n{listed}");
    }
}

#[test]
fn a_missing_peer_skips_its_block_but_fails_it_under_ci() {
    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(
        &readme,
        "<!-- readme-check expect='^hello$' -->\n```sh\necho hello\n```\n\n\
         <!-- readme-check requires=no-such-peer-program -->\n```sh\nno-such-peer-program\n```\n",
    )
    .unwrap();
    let readme = readme.to_str().unwrap();
    // A failed run keeps its copy for inspection: keep it in this test's directory.
    let tmp = dir.path().to_str().unwrap();
    let (ok, log) = readme_check(&[("README", readme), ("TMPDIR", tmp), ("CI", "false")]);
    assert!(ok, "{log}");
    assert!(
        log.contains("SKIPPED block 2: no-such-peer-program is not installed"),
        "{log}"
    );
    let (ok, log) = readme_check(&[("README", readme), ("TMPDIR", tmp), ("CI", "true")]);
    assert!(!ok, "{log}");
    assert!(
        log.contains("FAILED block 2: no-such-peer-program is required under CI=true"),
        "{log}"
    );
    // A block whose output misses its expectation fails too, naming the pattern.
    std::fs::write(
        dir.path().join("README.md"),
        "<!-- readme-check expect='^bye$' -->\n```sh\necho hello\n```\n",
    )
    .unwrap();
    let (ok, log) = readme_check(&[("README", readme), ("TMPDIR", tmp)]);
    assert!(!ok && log.contains("does not match /^bye$/"), "{log}");
}

#[test]
fn the_readme_commands_work_when_pasted() {
    let peers = ["sipp", "baresip", "curl", "python3"];
    // Under CI=true `peer` panics on a missing program, and so does the script.
    if !peers.iter().all(|p| peer(p)) {
        return;
    }
    let (ok, log) = readme_check(&[]);
    assert!(ok, "scripts/readme-check.sh failed:\n{log}");
    assert!(log.contains("README blocks work"), "{log}");
}
