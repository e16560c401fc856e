//! RFC 4475 torture corpus (../shared/conformance) against a real `qonyrau serve`, over UDP
//! and TCP. The server and the runner share a private network namespace that has only
//! loopback (`unshare -n`): the corpus names documentation addresses (192.0.2.x) that must
//! never receive a real packet, and inside the namespace they cannot.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{peer, repo};

fn run_torture(transport: &str) {
    if !peer("unshare") || !peer("python3") || !peer("ip") {
        return;
    }
    let conformance = repo().join("../shared/conformance");
    if !conformance.join("sip_torture.py").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("../shared/conformance is required under CI=true");
        }
        eprintln!("SKIPPED: ../shared/conformance not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[sip]\nudp = \"127.0.0.1:5060\"\ntcp = \"127.0.0.1:5060\"\n[http]\nlisten = \"127.0.0.1:8080\"\n\
         [ivr]\nflows_dir = \"{}\"\nsounds_dir = \"{}\"\n[database]\nurl = \"sqlite://{}/q.db\"\n",
        repo().join("ivr-flows").display(),
        repo().join("sounds").display(),
        dir.path().display()
    );
    std::fs::write(dir.path().join("q.toml"), config).unwrap();
    let script = format!(
        r#"set -u
ip link set lo up
"{bin}" --config "{d}/q.toml" serve > "{d}/ready" 2> "{d}/server.log" & S=$!
for i in $(seq 1 100); do grep -q READY "{d}/ready" 2>/dev/null && break; sleep 0.1; done
python3 "{c}/sip_torture.py" --host 127.0.0.1 --port 5060 --transport {transport} \
    --source 127.0.0.2 --data "{c}/rfc4475"
rc=$?
kill -0 $S 2>/dev/null || {{ echo "SERVER DIED"; rc=3; }}
kill $S; wait $S
exit $rc"#,
        bin = env!("CARGO_BIN_EXE_qonyrau"),
        d = dir.path().display(),
        c = conformance.display(),
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    let server_log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "RFC 4475 over {transport}: not every message as expected\n{stdout}\n{stderr}\nserver log tail:\n{}",
        server_log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(
        stdout.contains("rfc4475: 49/49 as expected, 0 crashes"),
        "{stdout}"
    );
}

#[test]
fn rfc4475_torture_corpus_over_udp() {
    run_torture("udp");
}

#[test]
fn rfc4475_torture_corpus_over_tcp() {
    run_torture("tcp");
}
