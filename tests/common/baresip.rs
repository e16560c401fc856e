//! A baresip softphone for the integration tests: its own config directory, one account
//! line, optional auto-answer, a long silence (or a given WAV) as what it says, what it
//! hears recorded by `sndfile` (`rec/…-dec.wav`), and control over `ctrl_tcp` (one
//! connection per instance: baresip serves a single client).
//!
//! ```ignore
//! let mut op = Baresip::start(&dir, BaresipOptions::new(
//!     "<sip:2001@127.0.0.1:5060>;auth_pass=secret;regint=600").auto_answer());
//! op.wait_registered(Duration::from_secs(10)).unwrap();
//! op.cmd("dial", "sip:100@127.0.0.1:5060");
//! op.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)).unwrap();
//! ```
#![allow(dead_code, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How to start one baresip.
#[derive(Clone, Debug)]
pub struct BaresipOptions {
    /// The `accounts` line, e.g. `<sip:2001@127.0.0.1:PORT>;auth_pass=…;regint=600`
    /// (`regint=0` for a caller that does not register).
    pub account: String,
    /// Append `;answermode=auto` to the account (incoming calls are answered at once).
    pub auto_answer: bool,
    /// What baresip sends: an 8 kHz mono WAV (baresip hangs up when it ends, so pad it);
    /// `None` makes 60 s of silence with sox.
    pub source: Option<PathBuf>,
    /// Extra lines for `config`.
    pub extra_config: String,
}

impl BaresipOptions {
    pub fn new(account: impl Into<String>) -> BaresipOptions {
        BaresipOptions {
            account: account.into(),
            auto_answer: false,
            source: None,
            extra_config: String::new(),
        }
    }

    pub fn auto_answer(mut self) -> BaresipOptions {
        self.auto_answer = true;
        self
    }

    pub fn source(mut self, wav: impl Into<PathBuf>) -> BaresipOptions {
        self.source = Some(wav.into());
        self
    }
}

/// A running baresip, stopped on drop.
pub struct Baresip {
    child: Child,
    pub dir: PathBuf,
    /// Its SIP port (UDP and TCP; TLS on +1).
    pub sip_port: u16,
    pub ctrl_port: u16,
    /// `snd_path`: one `dump-…-dec.wav` (heard) and `…-enc.wav` (sent) per call.
    pub rec: PathBuf,
    pub log: PathBuf,
    ctrl: TcpStream,
    buf: Vec<u8>,
    /// Events received and not yet taken by [`Baresip::wait_event`].
    pub events: Vec<Value>,
    /// Every event seen, in order (for assertion messages).
    pub seen: Vec<Value>,
    token: u64,
}

impl Baresip {
    /// Write `dir/config` and `dir/accounts` and start `baresip -f dir` (its log, which is
    /// its stdout, goes to `dir/baresip.log`). `dir` is created if needed.
    pub fn start(dir: &Path, opts: BaresipOptions) -> Baresip {
        std::fs::create_dir_all(dir).expect("baresip dir");
        let rec = dir.join("rec");
        std::fs::create_dir_all(&rec).expect("baresip rec dir");
        let source = match opts.source {
            Some(s) => s,
            None => {
                let silence = dir.join("silence.wav");
                let ok = Command::new("sox")
                    .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
                    .arg(&silence)
                    .args(["trim", "0", "60"])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                assert!(ok, "sox must make the silence file");
                silence
            }
        };
        let sip_port = free_port();
        let ctrl_port = loop {
            let p = free_port();
            if p != sip_port && p != sip_port + 1 {
                break p;
            }
        };
        let rtp_base = rtp_base();
        std::fs::write(
            dir.join("config"),
            format!(
                "poll_method epoll\nnet_interface 127.0.0.1\nsip_listen 127.0.0.1:{sip_port}\n\
                 call_max_calls 4\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
                 audio_source aufile,{}\nausrc_srate 8000\nausrc_channels 1\nauplay_srate 8000\n\
                 auplay_channels 1\nrtp_ports {rtp_base}-{}\nmodule_path /usr/lib/baresip/modules\n\
                 module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
                 module_tmp account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl_port}\nsnd_path {}\nstatmode_default off\n{}\n",
                source.display(),
                rtp_base + 19,
                rec.display(),
                opts.extra_config,
            ),
        )
        .expect("write baresip config");
        let mut account = opts.account.clone();
        if opts.auto_answer && !account.contains("answermode=") {
            account.push_str(";answermode=auto");
        }
        std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("write accounts");
        let log = dir.join("baresip.log");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("baresip log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start baresip");
        let ctrl = connect_retry(ctrl_port, &log);
        Baresip {
            child,
            dir: dir.to_path_buf(),
            sip_port,
            ctrl_port,
            rec,
            log,
            ctrl,
            buf: Vec::new(),
            events: Vec::new(),
            seen: Vec::new(),
            token: 0,
        }
    }

    /// baresip's own log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run a ctrl_tcp command (`dial URI`, `hangup`, `accept`, `sndcode 1`, `reginfo`,
    /// `uanew …`, `quit`…) and return its response (`{"response":true,"ok":…,"data":…}`).
    pub fn cmd(&mut self, command: &str, params: &str) -> Value {
        self.token += 1;
        let token = self.token.to_string();
        let body =
            serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        self.ctrl
            .write_all(format!("{}:{},", body.len(), body).as_bytes())
            .expect("write to baresip ctrl_tcp");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let mut response = None;
            for m in self.read(deadline) {
                if response.is_none() && m["response"] == true && m["token"] == token.as_str() {
                    response = Some(m);
                } else {
                    // Events read together with the response (e.g. CALL_ESTABLISHED right
                    // after `accept`'s) are kept for wait_event, not dropped.
                    self.push_event(m);
                }
            }
            if let Some(m) = response {
                return m;
            }
        }
        panic!(
            "baresip did not answer `{command} {params}`; log:\n{}",
            self.log_text()
        );
    }

    /// Wait for an event of `kind` (`REGISTER_OK`, `CALL_ESTABLISHED`, `CALL_CLOSED`…),
    /// taking it from the queue. Note: with `answermode=auto` there is no `CALL_INCOMING`.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
                return Some(self.events.remove(i));
            }
            if Instant::now() >= deadline {
                return None;
            }
            for m in self.read(deadline) {
                self.push_event(m);
            }
        }
    }

    /// Wait until the account is registered: `REGISTER_OK` on ctrl_tcp (if it came after
    /// we connected) or a 200 to REGISTER in baresip's log. Returns the log line or event.
    pub fn wait_registered(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .log_text()
                .lines()
                .find(|l| l.contains("200 OK") && l.contains("binding"))
            {
                return Some(line.to_string());
            }
            if let Some(e) = self.events.iter().find(|e| e["type"] == "REGISTER_OK") {
                return Some(e.to_string());
            }
            if Instant::now() >= deadline {
                return None;
            }
            let until = (Instant::now() + Duration::from_millis(200)).min(deadline);
            for m in self.read(until) {
                self.push_event(m);
            }
        }
    }

    /// The recordings of what it heard (`…-dec.wav`), oldest first.
    pub fn heard(&self) -> Vec<PathBuf> {
        self.recordings("-dec.wav")
    }

    /// The recordings of what it sent (`…-enc.wav`), oldest first.
    pub fn sent(&self) -> Vec<PathBuf> {
        self.recordings("-enc.wav")
    }

    fn recordings(&self, suffix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.rec)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(suffix))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// SIGTERM (baresip then un-REGISTERs), and a second one after `grace` if it is still
    /// running (it waits ~30 s for a registrar that is gone); SIGKILL as a last resort.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn push_event(&mut self, m: Value) {
        if m["event"] == true {
            self.seen.push(m.clone());
            self.events.push(m);
        }
    }

    /// Read netstring-framed JSON messages until `deadline` or at least one arrived.
    fn read(&mut self, deadline: Instant) -> Vec<Value> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        self.ctrl.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 65536];
        match self.ctrl.read(&mut chunk) {
            Ok(0) => {
                // baresip closed the connection (it exited): nothing more will come.
                std::thread::sleep(left.min(Duration::from_millis(100)));
            }
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        let mut out = Vec::new();
        while let Some(colon) = self.buf.iter().position(|&b| b == b':') {
            let Some(len) = std::str::from_utf8(&self.buf[..colon])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                self.buf.clear();
                break;
            };
            if self.buf.len() < colon + 1 + len + 1 {
                break;
            }
            let body = &self.buf[colon + 1..colon + 1 + len];
            if let Ok(v) = serde_json::from_slice(body) {
                out.push(v);
            }
            self.buf.drain(..colon + 1 + len + 1);
        }
        out
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// A free port P with UDP P and TCP P and P+1 free (baresip opens SIP on UDP and TCP P,
/// TLS on P+1).
pub fn free_port() -> u16 {
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

/// An RTP range of 20 ports for one baresip in 20000-29999: below the server's ranges
/// (30000 and up), below the usual ephemeral ports, apart from other instances here.
fn rtp_base() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 50;
    20000 + ((std::process::id() % 10) as u16 * 50 + n) * 20
}

fn connect_retry(port: u16, log: &Path) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!(
                "baresip ctrl_tcp on {port}: {e}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }
}
