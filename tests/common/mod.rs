//! Shared harness for the integration tests: start a real `qonyrau serve` process on free
//! loopback ports, check that a peer program exists (a missing peer FAILS under CI=true),
//! run SIPp, and record the RTP a caller receives.
#![allow(dead_code, clippy::disallowed_methods)]

pub mod baresip;
pub mod calls;
pub mod rtp_peer;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// True when the peer can be used. Missing: panic under CI=true (the contract: fail, not
/// skip), otherwise print why the test is skipped and return false.
pub fn peer(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{program} is required under CI=true: run scripts/test.sh, which installs it");
        }
        eprintln!("SKIPPED: {program} is not installed (scripts/test.sh installs it)");
    }
    found
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A flow that rings extension 2001 (ring time-out 20 s); nobody answering, and the
/// operator hanging up, both lead to the goodbye prompt and our BYE. Tests map a number to
/// it with `[ivr.numbers] "200" = "operator"`.
pub const OPERATOR_FLOW: &str = "\
start: connect
nodes:
  connect:
    dial: \"2001\"
    ring_timeout: 20s
    on_no_answer: goodbye
    next: goodbye
  goodbye: { play: goodbye, next: bye }
  bye: { hangup: true }
";

/// How to start a server beyond the defaults.
#[derive(Default)]
pub struct ServerOpts<'a> {
    /// Extra lines for `[sip]`.
    pub sip: &'a str,
    /// Extra lines for `[ivr]` (e.g. `numbers` mapping to the test's flows).
    pub ivr: &'a str,
    /// Extra lines for `[rtp]` (e.g. `timeout = "0s"` for callers that send no audio).
    pub rtp: &'a str,
    /// Default: a SQLite file in the server's temporary directory.
    pub database_url: Option<&'a str>,
    pub env: &'a [(&'a str, &'a str)],
    /// Flows (name, YAML) added beside the bundled ones.
    pub flows: &'a [(&'a str, &'a str)],
    /// Extra lines for `[desk]`.
    pub desk: &'a str,
    /// `[sip]` lines that replace the default `udp = "127.0.0.1:0"` and `tcp = …` (e.g.
    /// lists with IPv6 addresses); [`Server::udp`] and [`Server::tcp`] give what was bound.
    pub listen: Option<&'a str>,
}

/// A running `qonyrau serve`, killed on drop.
pub struct Server {
    pub child: Child,
    /// The first SIP address (UDP before TCP).
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// Every SIP address bound, per transport, in config order.
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Server {
    /// Start with the bundled flows and prompts, SIP on a free port; `ivr` holds extra
    /// `key = value` lines for the config's `[ivr]` section.
    pub fn start(ivr: &str) -> Server {
        Server::start_with(ivr, &[])
    }

    pub fn start_with(ivr: &str, env: &[(&str, &str)]) -> Server {
        Server::start_full("", ivr, env)
    }

    /// `sip` holds extra lines for `[sip]`, `ivr` for `[ivr]`.
    pub fn start_full(sip: &str, ivr: &str, env: &[(&str, &str)]) -> Server {
        Server::start_db(sip, ivr, None, env)
    }

    /// As `start_full`, with the database at `database_url` (default: a SQLite file in the
    /// server's temporary directory).
    pub fn start_db(
        sip: &str,
        ivr: &str,
        database_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        Server::start_opts(ServerOpts {
            sip,
            ivr,
            database_url,
            env,
            ..ServerOpts::default()
        })
    }

    /// The most general start: see [`ServerOpts`].
    pub fn start_opts(o: ServerOpts) -> Server {
        let ServerOpts {
            sip,
            ivr,
            database_url,
            env,
            flows,
            rtp,
            desk,
            listen,
        } = o;
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = repo();
        // The bundled flows, plus the test's own when it has any.
        let flows_dir = if flows.is_empty() {
            repo.join("ivr-flows")
        } else {
            let d = dir.path().join("flows");
            std::fs::create_dir_all(&d).unwrap();
            for e in std::fs::read_dir(repo.join("ivr-flows")).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
            }
            for (name, text) in flows {
                std::fs::write(d.join(format!("{name}.yaml")), text).unwrap();
            }
            d
        };
        let database_url = database_url
            .map(str::to_string)
            .unwrap_or_else(|| format!("sqlite://{}/qonyrau.db", dir.path().display()));
        let rtp_base = 30000 + (std::process::id() % 500) as u16 * 60;
        let listen = listen.unwrap_or("udp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\n");
        let config = format!(
            "[sip]\n{listen}shutdown_grace = \"2s\"\n{sip}\
             [http]\nlisten = \"127.0.0.1:0\"\n\
             [rtp]\nport_min = {}\nport_max = {}\n{rtp}\
             [database]\nurl = \"{database_url}\"\n\
             [desk]\ncalendar_dir = \"{}\"\nsla_check_every = \"1s\"\n{desk}\
             [ivr]\nflows_dir = \"{}\"\nsounds_dir = \"{}\"\n{ivr}",
            rtp_base,
            rtp_base + 59,
            repo.join("config/calendar").display(),
            flows_dir.display(),
            repo.join("sounds").display(),
        );
        let config_path = dir.path().join("qonyrau.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.path().join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_qonyrau"))
            .args(["--config", config_path.to_str().unwrap(), "serve"])
            .current_dir(dir.path())
            .envs(env.iter().copied())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start qonyrau");
        let ready = read_ready_line(&mut child, &log);
        Server {
            child,
            sip: ready.sip,
            http: ready.http,
            udp: ready.udp,
            tcp: ready.tcp,
            dir,
            log,
        }
    }

    /// Run `qonyrau --config <this server's config> ARGS` with `stdin`; (success, output).
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String) {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_qonyrau"))
            .arg("--config")
            .arg(self.dir.path().join("qonyrau.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run qonyrau");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// A staff member (operator, web password `Operator2026!`) with SIP extension `ext`
    /// and SIP password `sip_password`, both made through the CLI.
    pub fn add_operator(&self, login: &str, ext: &str, sip_password: &str) {
        let (ok, out) = self.cli(
            &[
                "users",
                "add",
                login,
                "--role",
                "operator",
                "--language",
                "en",
            ],
            "Operator2026!\n",
        );
        assert!(ok, "users add {login}: {out}");
        let (ok, out) = self.cli(
            &["users", "sip", login, "--extension", ext],
            &format!("{sip_password}\n"),
        );
        assert!(ok, "users sip {login} --extension {ext}: {out}");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        http_get(self.http, "/metrics")
    }

    /// SIGTERM and wait; returns how long the exit took.
    pub fn terminate(&mut self) -> Duration {
        let t0 = Instant::now();
        unsafe_kill(self.child.id(), "TERM");
        let _ = self.child.wait();
        t0.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

struct Ready {
    sip: SocketAddr,
    http: SocketAddr,
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
}

/// The server prints `READY sip=ADDR http=ADDR udp=ADDR,… tcp=ADDR,…` on stdout once it
/// serves (`-` for a transport that is off).
fn read_ready_line(child: &mut Child, log: &Path) -> Ready {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("READY ") {
                let (mut sip, mut http) = (None, None);
                let (mut udp, mut tcp) = (Vec::new(), Vec::new());
                let list = |v: &str| -> Vec<SocketAddr> {
                    v.split(',').filter_map(|a| a.parse().ok()).collect()
                };
                for kv in rest.split_whitespace() {
                    if let Some(v) = kv.strip_prefix("sip=") {
                        sip = v.parse().ok();
                    }
                    if let Some(v) = kv.strip_prefix("http=") {
                        http = v.parse().ok();
                    }
                    if let Some(v) = kv.strip_prefix("udp=") {
                        udp = list(v);
                    }
                    if let Some(v) = kv.strip_prefix("tcp=") {
                        tcp = list(v);
                    }
                }
                let _ = tx.send((sip, http, udp, tcp));
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok((Some(sip), Some(http), udp, tcp)) => Ready {
            sip,
            http,
            udp,
            tcp,
        },
        _ => panic!(
            "qonyrau did not report READY; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

/// Minimal HTTP/1.1 GET over a raw socket (no client dependency needed for two endpoints).
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read http");
    out
}

/// Minimal HTTP/1.1 POST of a JSON body; (status code, response body).
pub fn http_post_json(addr: SocketAddr, path: &str, json: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read http");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// Poll /metrics until `series` has `value` or `timeout` passes; the last value seen.
pub fn wait_metric(server: &Server, series: &str, value: f64, timeout: Duration) -> Option<f64> {
    let deadline = Instant::now() + timeout;
    loop {
        let v = metric(&server.metrics(), series);
        if v == Some(value) || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of a Prometheus sample line `name{labels} value` (labels must match exactly as
/// rendered, e.g. `qonyrau_sip_requests_total{method="INVITE"}`).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Records every RTP packet sent to one UDP port, with its arrival time.
pub struct RtpSink {
    pub port: u16,
    rx: mpsc::Receiver<(Instant, Vec<u8>)>,
}

pub struct RtpPacket {
    pub at: Instant,
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl RtpSink {
    pub fn bind() -> RtpSink {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind rtp sink");
        let port = sock.local_addr().unwrap().port();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        // keep waiting; ends when the receiver is dropped and a send fails
                        if tx.send((Instant::now(), Vec::new())).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        RtpSink { port, rx }
    }

    /// Everything received so far, parsed (non-RTP datagrams dropped).
    pub fn packets(&self) -> Vec<RtpPacket> {
        let mut out = Vec::new();
        while let Ok((at, p)) = self.rx.try_recv() {
            if p.len() < 12 || p[0] >> 6 != 2 {
                continue;
            }
            out.push(RtpPacket {
                at,
                pt: p[1] & 0x7f,
                marker: p[1] & 0x80 != 0,
                seq: u16::from_be_bytes([p[2], p[3]]),
                ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
                ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
                payload: p[12..].to_vec(),
            });
        }
        out
    }
}

/// Run SIPp in the foreground with a scenario file from tests/sipp/, returning (exit code,
/// messages log); it binds ::1 for an IPv6 `target`, 127.0.0.1 otherwise. `args` are extra SIPp arguments. The scenarios' SDP names `[sink_port]`
/// as the caller's RTP port (SIPp binds its own `-mp` port, so a test that records what
/// the caller hears passes `-key sink_port N` for its [`RtpSink`]; 9, discard, otherwise).
pub fn sipp(scenario: &str, target: SocketAddr, args: &[&str], dir: &Path) -> (i32, String) {
    let sink_default = ["-key", "sink_port", "9"];
    let default: &[&str] = if args.contains(&"sink_port") {
        &[]
    } else {
        &sink_default
    };
    let msgs = dir.join(format!("{scenario}.msgs.log"));
    let errs = dir.join(format!("{scenario}.errs.log"));
    let scenario_path = repo().join("tests/sipp").join(format!("{scenario}.xml"));
    // SIPp exits 254 when one of its ports was taken between our check and its bind (the
    // server's RTP legs come and go): pick fresh ports and run it again.
    let mut status = None;
    for _ in 0..3 {
        let s = Command::new("sipp")
            .arg("-sf")
            .arg(&scenario_path)
            .arg(target.to_string())
            .args([
                "-i",
                if target.is_ipv6() { "::1" } else { "127.0.0.1" },
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "60s",
                "-timeout_error",
            ])
            .args(["-trace_msg", "-message_file"])
            .arg(&msgs)
            .args(["-trace_err", "-error_file"])
            .arg(&errs)
            .args(default)
            .args(sipp_ports(args))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run sipp");
        status = Some(s);
        if s.code() != Some(SIPP_BIND_ERROR) {
            break;
        }
    }
    let status = status.expect("sipp ran");
    let mut log = std::fs::read_to_string(&msgs).unwrap_or_default();
    log.push_str(&std::fs::read_to_string(&errs).unwrap_or_default());
    (status.code().unwrap_or(-1), log)
}

/// Decode G.711 µ-law (for checking what a caller heard).
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let t = (((u & 0x0f) as i16) << 3) + 0x84;
    let t = t << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        0x84 - t
    } else {
        t - 0x84
    }
}

/// Read an 8 kHz mono 16-bit WAV's samples.
pub fn wav_samples(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).expect("open wav");
    r.samples::<i16>().map(|s| s.unwrap()).collect()
}

/// Normalised cross-correlation peak of `needle` (its middle 80 %) inside `hay`.
pub fn best_match(hay: &[i16], needle: &[i16]) -> f64 {
    let cut = needle.len() / 10;
    let needle: Vec<f64> = needle[cut..needle.len() - cut]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let hay: Vec<f64> = hay.iter().map(|&v| v as f64).collect();
    if hay.len() < needle.len() {
        return 0.0;
    }
    let nn: f64 = needle.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut best = 0.0f64;
    // Coarse search every 4 samples then refine: prompts are a few seconds, fine for a test.
    let step = 4;
    let mut best_at = 0;
    for off in (0..=hay.len() - needle.len()).step_by(step) {
        let w = &hay[off..off + needle.len()];
        let dot: f64 = w.iter().zip(&needle).map(|(a, b)| a * b).sum();
        let ww: f64 = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        let score = if ww > 0.0 { dot / (ww * nn) } else { 0.0 };
        if score > best {
            best = score;
            best_at = off;
        }
    }
    let lo = best_at.saturating_sub(step);
    let hi = (best_at + step).min(hay.len() - needle.len());
    for off in lo..=hi {
        let w = &hay[off..off + needle.len()];
        let dot: f64 = w.iter().zip(&needle).map(|(a, b)| a * b).sum();
        let ww: f64 = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        if ww > 0.0 {
            best = best.max(dot / (ww * nn));
        }
    }
    best
}

/// SIPp's exit code when it cannot bind one of its sockets.
pub const SIPP_BIND_ERROR: i32 = 254;

/// SIPp's own ports, free ones (with `-p 0` SIPp 3.6.1 binds 5060, and its control socket
/// and media default to 8888 and 6000): SIP, control and media, unless `args` set them.
pub fn sipp_ports(args: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (flag, even) in [("-p", false), ("-cp", false), ("-mp", true)] {
        if !args.contains(&flag) {
            out.push(flag.to_string());
            out.push(free_udp_port(even).to_string());
        }
    }
    out
}

/// A UDP port free on 127.0.0.1 now (even, with the next three free too, when `even`).
pub fn free_udp_port(even: bool) -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let p = s.local_addr().unwrap().port();
        drop(s);
        if !even {
            return p;
        }
        let p = p & !1;
        if p > 1024
            && p < 65000
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

/// One HTTP request with a bearer token: (status, body).
pub fn http_bearer(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    json: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    )
}
