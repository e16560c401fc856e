//! `qonyrau-loadgen`: a SIP/RTP load generator for the benchmarks in `docs/BENCHMARKS.md`.
//!
//! SIPp drives set-up rates well but cannot hold thousands of media calls on this machine,
//! so this tool does both, written to cost little: one SIP socket and a dispatcher routing
//! by Call-ID, one task per call only for signalling, and RTP sent and drained by a few
//! shard threads that wake once per 20 ms tick for all their calls. A sample of calls gets a
//! dedicated receiver that timestamps every packet, for the jitter figures.
//!
//! It measures what the server cannot report about itself: calls that failed, SIP
//! retransmissions we had to make, set-up latency, RTP received per call (loss, jitter at
//! the receiver), and, given `--server-pid`, the server's CPU time and resident memory.
//!
//! Short calls: `--hold 0` (INVITE, 200, ACK, BYE at once). Media calls: `--hold 30s --rtp`.
//! Traffic goes only to the target given (loopback in every script under bench/).
// A load generator measures real elapsed time; the sans-IO clock rule is for the server.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

mod twoleg;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "qonyrau-loadgen",
    about = "SIP/RTP load generator (loopback benchmarks)"
)]
struct Args {
    /// Server SIP address (UDP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    target: SocketAddr,
    /// Calls to place in all.
    #[arg(long, default_value_t = 100)]
    calls: u64,
    /// New calls per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Most calls up at once (0 = no limit).
    #[arg(long, default_value_t = 0)]
    concurrent: usize,
    /// How long each call stays up after the ACK ("0s" = BYE at once).
    #[arg(long, default_value = "0s")]
    hold: String,
    /// Send RTP (PCMU, 20 ms) during the hold and record what comes back.
    #[arg(long)]
    rtp: bool,
    /// Calls whose received RTP is timestamped packet by packet (jitter figures).
    #[arg(long, default_value_t = 50)]
    sample: usize,
    /// Dialled number.
    #[arg(long, default_value = "100")]
    service: String,
    /// Server process to read CPU time and memory of (/proc/PID).
    #[arg(long)]
    server_pid: Option<u32>,
    /// RTP shard threads.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Give up on a call's set-up after this long.
    #[arg(long, default_value = "32s")]
    setup_timeout: String,
    /// What callers say: an 8 kHz mono 16-bit WAV, looped, sent as PCMU. Speech keeps the
    /// server's in-band DTMF detector working (it skips silence almost for free).
    #[arg(long, default_value = "sounds/en/menu.wav")]
    audio: std::path::PathBuf,
    /// Prompts that start a queue announcement (8 kHz WAVs, comma-separated): in sampled
    /// calls, the arrival of each is timed against the answer and the 60 s grid.
    #[arg(long, default_value = "")]
    announce_markers: String,
    /// calls (one-leg calls to a flow, the default), bridge (two-leg direct calls to
    /// registered operators), register (authenticated REGISTERs), direct (RTP socket pairs
    /// with no server: the delay reference). See bench/twoleg.rs.
    #[arg(long, default_value = "calls")]
    mode: String,
    /// bridge/register/direct: operator extensions (bridge: also callers; direct: pairs).
    #[arg(long, default_value_t = 100)]
    extensions: usize,
    /// First caller extension (bridge).
    #[arg(long, default_value_t = 30000)]
    caller_base: u32,
    /// First operator extension (bridge, register).
    #[arg(long, default_value_t = 50000)]
    operator_base: u32,
    /// The SIP (digest) password of every bench extension.
    #[arg(long, default_value = "sip-secret-bench")]
    sip_password: String,
    /// bridge/direct: the steady window with every call bridged.
    #[arg(long, default_value = "30s")]
    window: String,
    /// bridge: operators' REGISTERs per second before the calls.
    #[arg(long, default_value_t = 200.0)]
    register_rate: f64,
}

fn dur(s: &str) -> Duration {
    qonyrau::units::parse_duration(s).unwrap_or_else(|| panic!("bad duration {s}"))
}

#[derive(Default)]
struct Totals {
    ok: AtomicU64,
    failed: AtomicU64,
    retransmissions: AtomicU64,
    rtp_sent: AtomicU64,
    rtp_received: AtomicU64,
    rtp_lost: AtomicU64,
    setup_us: Mutex<Vec<u64>>,
    jitter_us: Mutex<Vec<u64>>,
    /// Sampled calls: the first announcement's start after the answer (µs), and each later
    /// one's start minus (the first's + 60 s × k).
    announce_first_us: Mutex<Vec<i64>>,
    announce_slot_us: Mutex<Vec<i64>>,
    announce_counts: Mutex<Vec<usize>>,
    failures: Mutex<HashMap<String, u64>>,
}

impl Totals {
    fn fail(&self, why: impl Into<String>) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.failures.lock().unwrap().entry(why.into()).or_default() += 1;
    }
}

type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match args.mode.as_str() {
        "calls" => {}
        "bridge" => return twoleg::bridge_mode(&args).await,
        "register" => return twoleg::register_mode(&args).await,
        "direct" => return twoleg::direct_mode(&args).await,
        other => panic!("unknown --mode {other}"),
    }
    let hold = dur(&args.hold);
    let setup_timeout = dur(&args.setup_timeout);
    let sock = Arc::new(
        UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind SIP socket"),
    );
    let local = sock.local_addr().unwrap();
    let routes: Routes = Arc::default();
    let totals = Arc::new(Totals::default());
    tokio::spawn(dispatch(sock.clone(), routes.clone()));

    let audio: Arc<Vec<u8>> = Arc::new(match hound::WavReader::open(&args.audio) {
        Ok(mut r) => r
            .samples::<i16>()
            .filter_map(Result::ok)
            .map(qonyrau::media::g711::linear_to_ulaw)
            .collect(),
        Err(e) => {
            eprintln!("{}: {e}; sending silence", args.audio.display());
            vec![0xff; 160]
        }
    });
    let markers: Vec<Marker> = args
        .announce_markers
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| Marker::load(std::path::Path::new(p)))
        .collect();
    let _ = MARKERS.set(markers);
    let shards: Vec<mpsc::UnboundedSender<RtpCall>> = (0..args.shards.max(1))
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            let totals = totals.clone();
            let audio = audio.clone();
            std::thread::spawn(move || rtp_shard(rx, totals, audio));
            tx
        })
        .collect();
    // Sampled calls get a shard of their own: it carries only them, so it polls their
    // sockets every half millisecond without waiting behind thousands of sends.
    let sampler = {
        let (tx, rx) = mpsc::unbounded_channel();
        let totals = totals.clone();
        let audio = audio.clone();
        std::thread::spawn(move || rtp_shard(rx, totals, audio));
        tx
    };

    let cpu0 = args.server_pid.map(proc_cpu);
    let t0 = Instant::now();
    let limit = if args.concurrent == 0 {
        1 << 30
    } else {
        args.concurrent
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(limit));
    let mut tasks = tokio::task::JoinSet::new();
    let peak_rss = Arc::new(AtomicU64::new(0));
    if let Some(pid) = args.server_pid {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(proc_rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    let rss0 = args.server_pid.map(proc_rss_kib).unwrap_or(0);
    for n in 0..args.calls {
        let due = t0 + Duration::from_secs_f64(n as f64 / args.rate);
        tokio::time::sleep_until(due).await;
        let permit = slots.clone().acquire_owned().await.unwrap();
        let call = Call {
            n,
            sock: sock.clone(),
            local,
            target: args.target,
            routes: routes.clone(),
            totals: totals.clone(),
            service: args.service.clone(),
            hold,
            rtp: args.rtp,
            sampled: (n as usize) < args.sample,
            shard: if (n as usize) < args.sample {
                sampler.clone()
            } else {
                shards[n as usize % shards.len()].clone()
            },
            setup_timeout,
        };
        tasks.spawn(async move {
            call.run().await;
            drop(permit);
        });
    }
    let placed = t0.elapsed();
    while tasks.join_next().await.is_some() {}
    let elapsed = t0.elapsed();
    let cpu = match (cpu0, args.server_pid) {
        (Some(c0), Some(pid)) => Some(proc_cpu(pid) - c0),
        _ => None,
    };
    report(
        &args,
        &totals,
        placed,
        elapsed,
        cpu,
        rss0,
        peak_rss.load(Ordering::Relaxed),
    );
}

fn report(
    args: &Args,
    t: &Totals,
    placed: Duration,
    elapsed: Duration,
    cpu: Option<f64>,
    rss0: u64,
    peak_rss: u64,
) {
    let ok = t.ok.load(Ordering::Relaxed);
    let failed = t.failed.load(Ordering::Relaxed);
    println!(
        "calls_ok={ok} calls_failed={failed} retransmissions={}",
        t.retransmissions.load(Ordering::Relaxed)
    );
    println!(
        "placed_in={:.2}s achieved_rate={:.0}/s elapsed={:.2}s",
        placed.as_secs_f64(),
        args.calls as f64 / placed.as_secs_f64().max(1e-9),
        elapsed.as_secs_f64()
    );
    let mut setup = t.setup_us.lock().unwrap().clone();
    setup.sort_unstable();
    if !setup.is_empty() {
        println!(
            "setup_ms p50={:.2} p99={:.2} max={:.2}",
            pct(&setup, 50.0) as f64 / 1000.0,
            pct(&setup, 99.0) as f64 / 1000.0,
            *setup.last().unwrap() as f64 / 1000.0
        );
    }
    if args.rtp {
        println!(
            "rtp_sent={} rtp_received={} rtp_lost={}",
            t.rtp_sent.load(Ordering::Relaxed),
            t.rtp_received.load(Ordering::Relaxed),
            t.rtp_lost.load(Ordering::Relaxed)
        );
        let mut j = t.jitter_us.lock().unwrap().clone();
        j.sort_unstable();
        if !j.is_empty() {
            println!(
                "rx_jitter_us (|transit(i)-transit(i-1)|, {} packets from {} sampled calls) p50={} p99={} max={}",
                j.len(),
                args.sample,
                pct(&j, 50.0),
                pct(&j, 99.0),
                j.last().unwrap()
            );
        }
    }
    let mut first = t.announce_first_us.lock().unwrap().clone();
    let mut slots = t.announce_slot_us.lock().unwrap().clone();
    let mut counts = t.announce_counts.lock().unwrap().clone();
    if !counts.is_empty() {
        first.sort_unstable();
        slots.sort_unstable();
        counts.sort_unstable();
        let ms = |v: i64| v as f64 / 1000.0;
        println!(
            "announcements ({} sampled calls, {}-{} each): first after the answer p50={:.1} ms max={:.1} ms; later ones against first + 60 s x k: min={:.1} p50={:.1} max={:.1} ms ({} starts)",
            counts.len(),
            counts[0],
            counts[counts.len() - 1],
            first.get(first.len() / 2).map_or(f64::NAN, |&v| ms(v)),
            first.last().map_or(f64::NAN, |&v| ms(v)),
            slots.first().map_or(f64::NAN, |&v| ms(v)),
            slots.get(slots.len() / 2).map_or(f64::NAN, |&v| ms(v)),
            slots.last().map_or(f64::NAN, |&v| ms(v)),
            slots.len()
        );
    }
    let failures = t.failures.lock().unwrap();
    for (why, n) in failures.iter() {
        println!("failure {why}: {n}");
    }
    if let Some(cpu) = cpu {
        let calls = (ok + failed).max(1) as f64;
        println!(
            "server_cpu_s={cpu:.3} server_cpu_ms_per_call={:.4}",
            cpu * 1000.0 / calls
        );
        let hold = dur(&args.hold).as_secs_f64();
        if hold > 0.0 {
            println!(
                "server_cpu_ms_per_call_second={:.4}",
                cpu * 1000.0 / (calls * hold)
            );
        }
    }
    if peak_rss > 0 {
        println!(
            "server_rss_kib start={rss0} peak={peak_rss} per_call_kib={:.1}",
            (peak_rss.saturating_sub(rss0)) as f64 / (args.concurrent.max(1) as f64)
        );
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// utime + stime of a process, in seconds.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux x86_64
}

fn proc_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn dispatch(sock: Arc<UdpSocket>, routes: Routes) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let Some(call_id) = header(&text, "Call-ID").or_else(|| header(&text, "i")) else {
            continue;
        };
        let route = routes.lock().unwrap().get(call_id).cloned();
        if let Some(tx) = route {
            let _ = tx.send(text);
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(msg: &str) -> Option<u16> {
    msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

struct Call {
    n: u64,
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    target: SocketAddr,
    routes: Routes,
    totals: Arc<Totals>,
    service: String,
    hold: Duration,
    rtp: bool,
    sampled: bool,
    shard: mpsc::UnboundedSender<RtpCall>,
    setup_timeout: Duration,
}

impl Call {
    async fn run(self) {
        let call_id = format!("lg-{}-{}@loadgen", std::process::id(), self.n);
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.routes.lock().unwrap().insert(call_id.clone(), tx);
        let result = self.talk(&call_id, &mut rx).await;
        self.routes.lock().unwrap().remove(&call_id);
        match result {
            Ok(()) => {
                self.totals.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => self.totals.fail(why),
        }
    }

    async fn talk(
        &self,
        call_id: &str,
        rx: &mut mpsc::UnboundedReceiver<String>,
    ) -> Result<(), String> {
        let rtp = if self.rtp {
            let s = StdUdpSocket::bind("127.0.0.1:0").map_err(|e| format!("rtp bind: {e}"))?;
            s.set_nonblocking(true).ok();
            Some(s)
        } else {
            None
        };
        let rtp_port = rtp
            .as_ref()
            .map(|s| s.local_addr().unwrap().port())
            .unwrap_or(9);
        let from_tag = format!("lgt{}", self.n);
        let sdp = format!(
            "v=0\r\no=lg {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
            n = self.n
        );
        let branch = format!("z9hG4bK-lg-{}-1", self.n);
        let invite = format!(
            "INVITE sip:{svc}@{t} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch};rport\r\nFrom: <sip:lg@{l}>;tag={from_tag}\r\nTo: <sip:{svc}@{t}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:lg@{l}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            svc = self.service,
            t = self.target,
            l = self.local,
            len = sdp.len()
        );
        let started = Instant::now();
        let ok = self
            .transact(
                &invite,
                rx,
                |m| status(m).filter(|s| *s >= 200),
                self.setup_timeout,
            )
            .await?;
        if status(&ok) != Some(200) {
            return Err(format!("INVITE answered {}", status(&ok).unwrap_or(0)));
        }
        self.totals
            .setup_us
            .lock()
            .unwrap()
            .push(started.elapsed().as_micros() as u64);
        let to = header(&ok, "To")
            .or_else(|| header(&ok, "t"))
            .unwrap_or("")
            .to_string();
        let ack = format!(
            "ACK sip:{svc}@{t} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-lg-{n}-ack;rport\r\nFrom: <sip:lg@{l}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            svc = self.service,
            t = self.target,
            l = self.local,
            n = self.n
        );
        self.sock
            .send_to(ack.as_bytes(), self.target)
            .await
            .map_err(|e| e.to_string())?;
        if !self.hold.is_zero() {
            let remote = parse_sdp_media(ok.split("\r\n\r\n").nth(1).unwrap_or(""));
            if let (Some(sock), Some(remote)) = (rtp, remote) {
                let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                let _ = self.shard.send(RtpCall {
                    sock,
                    answered_us: realtime_us(),
                    remote,
                    until: Instant::now() + self.hold,
                    sampled: self.sampled,
                    done: done_tx,
                    seq: 0,
                    ts: 0,
                    ssrc: 0x10000 + self.n as u32,
                    rx: RxStats::default(),
                });
                let _ = done_rx.await;
            } else {
                // Hold without media; a BYE from the server ends the wait.
                let deadline = Instant::now() + self.hold;
                while let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    if m.starts_with("BYE ") {
                        return Err("server hung up during hold".into());
                    }
                }
            }
        }
        let bye = format!(
            "BYE sip:{svc}@{t} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-lg-{n}-bye;rport\r\nFrom: <sip:lg@{l}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            svc = self.service,
            t = self.target,
            l = self.local,
            n = self.n
        );
        let r = self
            .transact(
                &bye,
                rx,
                |m| status(m).filter(|s| *s >= 200 && m.contains("BYE")),
                Duration::from_secs(32),
            )
            .await?;
        match status(&r) {
            Some(200) => Ok(()),
            other => Err(format!("BYE answered {}", other.unwrap_or(0))),
        }
    }

    /// Send with RFC 3261 Timer A/E doubling (T1 = 500 ms, capped at 4 s) until `done`.
    async fn transact(
        &self,
        msg: &str,
        rx: &mut mpsc::UnboundedReceiver<String>,
        done: impl Fn(&str) -> Option<u16>,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(500);
        let mut first = true;
        loop {
            if !first {
                self.totals.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            self.sock
                .send_to(msg.as_bytes(), self.target)
                .await
                .map_err(|e| e.to_string())?;
            let resend = (Instant::now() + interval).min(deadline);
            loop {
                match tokio::time::timeout_at(resend, rx.recv()).await {
                    Ok(Some(m)) if done(&m).is_some() => return Ok(m),
                    Ok(Some(m)) if m.starts_with("BYE ") => {
                        return Err("server sent BYE during set-up".into());
                    }
                    Ok(Some(_)) => {} // provisional, or a retransmitted final of an earlier step
                    Ok(None) => return Err("dispatcher gone".into()),
                    Err(_) => break,
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} timed out",
                    msg.split(' ').next().unwrap_or("?")
                ));
            }
            interval = (interval * 2).min(Duration::from_secs(4));
        }
    }
}

fn parse_sdp_media(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

/// The first sounding frame of a prompt that starts an announcement, PCMU-encoded as the
/// server sends it (prompts start on a frame boundary), and its index in the prompt.
struct Marker {
    frame: Vec<u8>,
    index: i64,
}

impl Marker {
    fn load(path: &std::path::Path) -> Marker {
        let mut r =
            hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ulaw: Vec<u8> = r
            .samples::<i16>()
            .filter_map(Result::ok)
            .map(qonyrau::media::g711::linear_to_ulaw)
            .collect();
        let (index, frame) = ulaw
            .chunks_exact(160)
            .enumerate()
            .find(|(_, f)| f.iter().any(|&b| b != f[0]))
            .unwrap_or_else(|| panic!("{}: silent", path.display()));
        Marker {
            frame: frame.to_vec(),
            index: index as i64,
        }
    }
}

static MARKERS: std::sync::OnceLock<Vec<Marker>> = std::sync::OnceLock::new();

fn realtime_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

struct RtpCall {
    sock: StdUdpSocket,
    /// When the ACK went (CLOCK_REALTIME µs, the clock of the arrival timestamps).
    answered_us: i64,
    remote: SocketAddr,
    until: Instant,
    sampled: bool,
    done: tokio::sync::oneshot::Sender<()>,
    seq: u16,
    ts: u32,
    ssrc: u32,
    rx: RxStats,
}

#[derive(Default)]
struct RxStats {
    received: u64,
    first_seq: Option<u16>,
    max_ext_seq: i64,
    last_transit_us: Option<i64>,
    jitter: Vec<u64>,
    /// Sampled calls: when each announcement started arriving (µs, realtime).
    announcements: Vec<i64>,
}

/// One shard: every 20 ms send one PCMU frame per call. Sampled calls are polled every
/// 0.5 ms, which timestamps arrivals to within about half a millisecond; the others are
/// drained once per tick and only counted (loss), which keeps the tool's own cost low.
fn rtp_shard(mut rx: mpsc::UnboundedReceiver<RtpCall>, totals: Arc<Totals>, audio: Arc<Vec<u8>>) {
    let start = std::time::Instant::now();
    let mut calls: Vec<RtpCall> = Vec::new();
    let mut tick: u64 = 0;
    let mut pkt = [0xffu8; 172];
    let mut buf = [0u8; 2048];
    loop {
        while let Ok(c) = rx.try_recv() {
            if c.sampled {
                enable_timestamps(&c.sock);
            }
            calls.push(c);
        }
        let now = Instant::now();
        let mut i = 0;
        while i < calls.len() {
            if now >= calls[i].until {
                let c = calls.swap_remove(i);
                finish(&totals, c);
            } else {
                i += 1;
            }
        }
        for c in calls.iter_mut() {
            pkt[0] = 0x80;
            pkt[1] = 0;
            pkt[2..4].copy_from_slice(&c.seq.to_be_bytes());
            pkt[4..8].copy_from_slice(&c.ts.to_be_bytes());
            pkt[8..12].copy_from_slice(&c.ssrc.to_be_bytes());
            let at = (c.ts as usize) % audio.len().max(1);
            for (i, b) in pkt[12..].iter_mut().enumerate() {
                *b = audio[(at + i) % audio.len()];
            }
            if c.sock.send_to(&pkt, c.remote).is_ok() {
                totals.rtp_sent.fetch_add(1, Ordering::Relaxed);
            }
            c.seq = c.seq.wrapping_add(1);
            c.ts = c.ts.wrapping_add(160);
        }
        // Drain until the next tick, polling the sockets every ~0.5 ms.
        tick += 1;
        let next = start + Duration::from_millis(20 * tick);
        loop {
            for c in calls.iter_mut().filter(|c| c.sampled) {
                while let Some((n, arrival_ns)) = recv_timestamped(&c.sock, &mut buf) {
                    account(c, &buf[..n], arrival_ns / 1000);
                }
            }
            let now = std::time::Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(Duration::from_micros(500)));
        }
        for c in calls.iter_mut().filter(|c| !c.sampled) {
            while let Ok((n, _)) = c.sock.recv_from(&mut buf) {
                account(c, &buf[..n], 0);
            }
        }
        if calls.is_empty() && rx.is_closed() {
            return;
        }
    }
}

/// Receive one datagram with the kernel's arrival time (SO_TIMESTAMPNS, CLOCK_REALTIME ns),
/// so the jitter figure does not include this thread's own scheduling delays.
fn recv_timestamped(sock: &StdUdpSocket, buf: &mut [u8]) -> Option<(usize, i64)> {
    use std::os::fd::AsRawFd;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; every pointer set below stays valid for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: the socket is open and `msg` describes writable buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    // SAFETY: CMSG_* walk the control buffer the kernel just filled, within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                return Some((n as usize, ts.tv_sec * 1_000_000_000 + ts.tv_nsec));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    None
}

fn enable_timestamps(sock: &StdUdpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn account(c: &mut RtpCall, p: &[u8], arrival_us: i64) {
    // RTCP (second octet 200-204, RFC 5761 §4) is not RTP: the server's reports for the
    // neighbouring call's RTP port (its port + 1) may land here, as the sockets are adjacent.
    if p.len() < 12 || (200..=204).contains(&p[1]) {
        return;
    }
    c.rx.received += 1;
    let seq = u16::from_be_bytes([p[2], p[3]]);
    let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    let first = *c.rx.first_seq.get_or_insert(seq);
    let ext = seq.wrapping_sub(first) as i64;
    c.rx.max_ext_seq = c.rx.max_ext_seq.max(ext);
    if c.sampled {
        let transit = arrival_us - (ts as i64 * 125); // 8 kHz: 125 µs per sample
        if let Some(last) = c.rx.last_transit_us {
            c.rx.jitter.push((transit - last).unsigned_abs());
        }
        c.rx.last_transit_us = Some(transit);
        if let Some(m) = MARKERS
            .get()
            .and_then(|ms| ms.iter().find(|m| p[12..] == m.frame[..]))
        {
            c.rx.announcements.push(arrival_us - m.index * 20_000);
        }
    }
}

fn finish(totals: &Totals, c: RtpCall) {
    totals
        .rtp_received
        .fetch_add(c.rx.received, Ordering::Relaxed);
    if c.rx.first_seq.is_some() {
        let expected = c.rx.max_ext_seq as u64 + 1;
        totals
            .rtp_lost
            .fetch_add(expected.saturating_sub(c.rx.received), Ordering::Relaxed);
    }
    if c.sampled {
        totals.jitter_us.lock().unwrap().extend(c.rx.jitter);
        if MARKERS.get().is_some_and(|m| !m.is_empty()) {
            let a = &c.rx.announcements;
            totals.announce_counts.lock().unwrap().push(a.len());
            if let Some(&first) = a.first() {
                totals
                    .announce_first_us
                    .lock()
                    .unwrap()
                    .push(first - c.answered_us);
                let mut slots = totals.announce_slot_us.lock().unwrap();
                for (k, &s) in a.iter().enumerate().skip(1) {
                    slots.push(s - (first + 60_000_000 * k as i64));
                }
            }
        }
    }
    let _ = c.done.send(());
}
