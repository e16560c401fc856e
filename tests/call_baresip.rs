//! baresip, a real softphone, as the caller: it dials the default flow, records what it hears
//! (sndfile module) and we check the greeting is in the recording.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{peer, Server};

fn netstring(cmd: &str, params: &str) -> Vec<u8> {
    let body = format!("{{\"command\":\"{cmd}\",\"params\":\"{params}\",\"token\":\"1\"}}");
    format!("{}:{},", body.len(), body).into_bytes()
}

#[test]
fn baresip_caller_hears_the_greeting() {
    if !peer("baresip") {
        return;
    }
    let server = Server::start("");
    let dir = server.dir.path().join("baresip");
    let rec = dir.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    // A free SIP port for baresip, a ctrl_tcp port, and an RTP range away from the server's.
    let sip_port = free_port();
    let ctrl_port = free_port();
    let rtp_base = 40000 + (std::process::id() % 1000) as u16 * 20;
    // baresip's source: a long silence (it hangs up when its WAV ends).
    let silence = dir.join("silence.wav");
    let ok = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&silence)
        .args(["trim", "0", "60"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "sox must make the silence file");
    std::fs::write(
        dir.join("config"),
        format!(
            "poll_method epoll\nnet_interface 127.0.0.1\nsip_listen 127.0.0.1:{sip_port}\n\
             call_max_calls 4\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
             audio_source aufile,{}\nausrc_srate 8000\nausrc_channels 1\nauplay_srate 8000\n\
             auplay_channels 1\nrtp_ports {rtp_base}-{}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module_tmp account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\nsnd_path {}\nstatmode_default off\n",
            silence.display(),
            rtp_base + 19,
            rec.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:caller@127.0.0.1:{sip_port}>;regint=0\n"),
    )
    .unwrap();
    let mut baresip = Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("baresip.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start baresip");
    let mut ctrl = connect_retry(ctrl_port);
    ctrl.write_all(&netstring("dial", &format!("sip:100@{}", server.sip)))
        .unwrap();
    // The default flow: greeting, menu, two silent retries, goodbye, our BYE (~30 s).
    // Wait until baresip reports the call closed, or 60 s.
    ctrl.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = String::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !events.contains("CALL_CLOSED") {
        if let Ok(n) = ctrl.read(&mut buf) {
            events.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &baresip.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-TERM", &baresip.id().to_string()])
        .status();
    let _ = baresip.wait();
    assert!(events.contains("CALL_ESTABLISHED"), "events: {events}");
    assert!(
        events.contains("CALL_CLOSED"),
        "we hang up at the end of the flow; events: {events}"
    );
    let heard = std::fs::read_dir(&rec)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip wrote a recording of what it heard");
    let samples = common::wav_samples(&heard);
    let greeting = common::wav_samples(&common::repo().join("sounds/en/welcome.wav"));
    let score = common::best_match(&samples[..samples.len().min(8000 * 6)], &greeting);
    assert!(
        score > 0.8,
        "greeting in baresip's recording: score {score:.3}"
    );
}

fn free_port() -> u16 {
    // baresip also opens TCP on its SIP port (and TLS on +1): check both are free.
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if p < 65000
            && std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

fn connect_retry(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("baresip ctrl_tcp on {port}: {e}"),
        }
    }
}
