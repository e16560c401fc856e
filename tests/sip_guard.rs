//! Who may reach what, with real peers: a contact that stops answering OPTIONS is not rung
//! (the caller goes straight to the dial node's on_no_answer), and a source that dials too
//! fast gets 503 with Retry-After for the INVITEs over its rate.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::rtp_peer::{decode, Law, RtpPeer};
use common::{
    best_match, metric, peer, sipp, wait_metric, wav_samples, Server, ServerOpts, OPERATOR_FLOW,
};

#[test]
fn a_contact_that_stops_answering_options_is_not_rung() {
    if !peer("sipp") {
        return;
    }
    // T1 = 100 ms: an OPTIONS nobody answers times out after 6.4 s (64·T1).
    let server = Server::start_opts(ServerOpts {
        sip: "t1 = \"100ms\"\n",
        ivr: "[ivr.numbers]\n\"200\" = \"operator\"\n[registrar]\nqualify_every = \"1s\"\n",
        flows: &[("operator", OPERATOR_FLOW)],
        ..ServerOpts::default()
    });
    server.add_operator("op1", "2001", "sip-secret-2001");
    // SIPp registers 2001 and exits: its contact's port is then closed, so OPTIONS go
    // unanswered.
    let (code, log) = sipp(
        "register",
        server.sip,
        &["-s", "2001", "-au", "2001", "-ap", "sip-secret-2001"],
        server.dir.path(),
    );
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_sip_registered_extensions",
            1.0,
            Duration::from_secs(5)
        ),
        Some(1.0)
    );
    // Probes go out every second; after 64·T1 without an answer the contact is unreachable.
    wait_metric(
        &server,
        "qonyrau_sip_requests_sent_total{method=\"OPTIONS\"}",
        9.0,
        Duration::from_secs(15),
    )
    .expect("OPTIONS probes were sent");
    let caller = RtpPeer::start(Law::Pcmu, 600.0);
    let started = Instant::now();
    let (code, log) = sipp(
        "call_operator",
        server.sip,
        &["-s", "200", "-key", "sink_port", &caller.port.to_string()],
        server.dir.path(),
    );
    assert_eq!(code, 0, "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no 20 s ring time-out: the unreachable contact was not rung"
    );
    let goodbye = wav_samples(&common::repo().join("sounds/en/goodbye.wav"));
    assert!(best_match(&decode(&caller.take()), &goodbye) > 0.8);
    let m = server.metrics();
    assert_eq!(
        metric(&m, "qonyrau_sip_requests_sent_total{method=\"INVITE\"}"),
        None,
        "no INVITE went to the dead contact: {m}"
    );
    assert_eq!(
        metric(&m, "qonyrau_sip_registered_extensions"),
        Some(1.0),
        "still registered"
    );
}

#[test]
fn a_source_dialling_too_fast_gets_503_with_retry_after_over_its_rate() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start_opts(ServerOpts {
        sip: "invite_rate = 5\ninvite_burst = 5\n",
        ..ServerOpts::default()
    });
    let dir = server.dir.path().join("flood");
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("sipp")
        .args([
            "-sn",
            "uac",
            &server.sip.to_string(),
            "-s",
            "100",
            "-m",
            "30",
            "-r",
            "100",
        ])
        .args(common::sipp_ports(&[]))
        .args([
            "-i",
            "127.0.0.1",
            "-d",
            "200",
            "-nostdin",
            "-recv_timeout",
            "3000",
        ])
        .args([
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_err",
            "-error_file",
        ])
        .arg(dir.join("errors.log"))
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("sipp");
    assert_eq!(status.code(), Some(1), "some of the 30 calls were refused");
    let errors = std::fs::read_to_string(dir.join("errors.log")).unwrap_or_default();
    assert!(
        errors.contains("SIP/2.0 503") && errors.contains("Retry-After:"),
        "the refused INVITEs got 503 with Retry-After: {errors}"
    );
    let m = server.metrics();
    let limited = metric(&m, "qonyrau_calls_refused_total{reason=\"rate_limited\"}").unwrap_or(0.0);
    assert!(
        limited >= 15.0,
        "at 100/s against 5/s most of 30 are refused: {limited}\n{m}"
    );
}

#[test]
fn a_request_retried_over_tcp_is_answered_on_that_connection() {
    use std::io::{Read, Write};
    let server = Server::start("");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let port = udp.local_addr().unwrap().port();
    let options = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKretry1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=r1\r\nTo: <sip:{addr}>\r\nCall-ID: retry-1\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        addr = server.sip
    );
    udp.send_to(options.as_bytes(), server.sip).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = udp.recv_from(&mut buf).expect("the UDP copy is answered");
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    // The same bytes (same branch: the same transaction) over TCP.
    let mut tcp = std::net::TcpStream::connect(server.sip).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    tcp.write_all(options.as_bytes()).unwrap();
    let n = tcp.read(&mut buf).expect("an answer on the TCP connection");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}
