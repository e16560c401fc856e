//! Calls with real peers, shared by the two-leg call tests: a SIPp caller whose RTP end
//! says a tone, and baresip softphones registered as operators' extensions.

use std::time::Duration;

use super::baresip::{Baresip, BaresipOptions};
use super::rtp_peer::{Law, RtpPeer};
use super::{sipp, Server};

/// The tone a caller's RTP end says (Hz).
pub const CALLER_HZ: f64 = 600.0;

/// A SIPp caller running `scenario` in a thread, its RTP end answering with a 600 Hz tone
/// in `law`; `args` are extra SIPp arguments.
pub fn sipp_caller(
    server: &Server,
    law: Law,
    scenario: &'static str,
    args: &[&str],
) -> (RtpPeer, std::thread::JoinHandle<(i32, String)>) {
    let caller = RtpPeer::start(law, CALLER_HZ);
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["-key".into(), "sink_port".into(), caller.port.to_string()]);
    let (sip, dir) = (server.sip, server.dir.path().to_path_buf());
    let call = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sipp(scenario, sip, &args, &dir)
    });
    (caller, call)
}

/// A baresip registered as `ext` (made for `login`), saying a `freq` Hz tone.
pub fn softphone(server: &Server, login: &str, ext: &str, freq: f64, auto_answer: bool) -> Baresip {
    softphone_over(server, login, ext, freq, auto_answer, "udp")
}

/// As [`softphone`], registering over `transport` ("udp" or "tcp").
pub fn softphone_over(
    server: &Server,
    login: &str,
    ext: &str,
    freq: f64,
    auto_answer: bool,
    transport: &str,
) -> Baresip {
    let secret = format!("sip-secret-{ext}");
    server.add_operator(login, ext, &secret);
    let dir = server.dir.path().join(login);
    std::fs::create_dir_all(&dir).unwrap();
    let tone = dir.join("tone.wav");
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&tone)
        .args(["synth", "60", "sine", &freq.to_string(), "vol", "0.5"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(made, "sox makes the tone");
    let mut opts = BaresipOptions::new(format!(
        "<sip:{ext}@{};transport={transport}>;auth_pass={secret};regint=600",
        server.sip
    ))
    .source(tone);
    if auto_answer {
        opts = opts.auto_answer();
    }
    let mut phone = Baresip::start(&dir, opts);
    assert!(
        phone.wait_registered(Duration::from_secs(10)).is_some(),
        "{login} registers; log:\n{}",
        phone.log_text()
    );
    phone
}
