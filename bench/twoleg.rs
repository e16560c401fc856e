//! Two-leg calls and registration for `qonyrau-loadgen` (issue #8 benchmarks).
//!
//! * `--mode bridge`: N operators (extensions `--operator-base`..) REGISTER with digest from
//!   one UDP socket and auto-answer the server's INVITEs (200 + PCMU SDP); N callers
//!   (extensions `--caller-base`..) place authenticated direct calls (INVITE, 401, ACK,
//!   INVITE with Authorization, 200, ACK) to operator i, at `--rate`/s. Both legs send RTP
//!   every 20 ms from a drift-free schedule. When every call is bridged (each side has
//!   received the other's marked RTP), the steady window opens for `--window`; the server's
//!   CPU and RSS are read at its edges; then every caller hangs up (BYE, at `--rate`/s).
//! * `--mode direct`: the same RTP legs in pairs of sockets with no server between them,
//!   the reference for the one-way delay.
//! * `--mode register`: `--calls` authenticated REGISTERs (401 then 200) at `--rate`/s,
//!   spread over N extensions; 200s, failures, latency and server CPU per registration.
//!
//! Every RTP payload starts with a marker, the sender's CLOCK_REALTIME send instant and a
//! send sequence number; receivers timestamp arrivals in the kernel (SO_TIMESTAMPNS, the
//! same clock), so one-way delay through the server = arrival - send, and jitter is
//! |(arrival_i - arrival_{i-1}) - (send_i - send_{i-1})| for consecutive send numbers (the
//! server's contribution only) or |(arrival_i - arrival_{i-1}) - 20 ms| (what a phone sees).
//! Only packets sent inside the steady window are counted, so loss = sent - received exactly.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qonyrau::sip::digest::{authorization, Challenge};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::{
    dur, enable_timestamps, header, pct, proc_cpu, proc_rss_kib, recv_timestamped, status, Args,
};

const MARK: &[u8; 4] = b"QBLG";
/// Branches unique in this process (a server matches retransmissions by branch alone).
static BRANCH: AtomicU64 = AtomicU64::new(1);
const BUCKETS: u64 = 20; // 1 ms slots in a 20 ms packet period

fn realtime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

// ---------------------------------------------------------------- SIP plumbing

type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>;

/// One SIP socket; incoming messages go to the task that owns their Call-ID, and a new
/// INVITE goes to the operator named by its Request-URI user (who then owns its Call-ID).
struct Sip {
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    target: SocketAddr,
    routes: Routes,
    operators: Routes,
}

impl Sip {
    async fn new(target: SocketAddr) -> Arc<Sip> {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind SIP"));
        let sip = Arc::new(Sip {
            local: sock.local_addr().unwrap(),
            sock,
            target,
            routes: Arc::default(),
            operators: Arc::default(),
        });
        let s = sip.clone();
        tokio::spawn(async move { s.dispatch().await });
        sip
    }

    async fn dispatch(&self) {
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, _)) = self.sock.recv_from(&mut buf).await else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Some(call_id) = header(&text, "Call-ID").or_else(|| header(&text, "i")) else {
                continue;
            };
            let route = self.routes.lock().unwrap().get(call_id).cloned();
            if let Some(tx) = route {
                let _ = tx.send(text);
                continue;
            }
            if text.starts_with("INVITE ") {
                let user = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|u| u.strip_prefix("sip:"))
                    .and_then(|u| u.split('@').next())
                    .unwrap_or("")
                    .to_string();
                let op = self.operators.lock().unwrap().get(&user).cloned();
                if let Some(tx) = op {
                    self.routes
                        .lock()
                        .unwrap()
                        .insert(call_id.to_string(), tx.clone());
                    let _ = tx.send(text);
                }
            }
        }
    }

    async fn send(&self, msg: &str) {
        let _ = self.sock.send_to(msg.as_bytes(), self.target).await;
    }

    /// Send with Timer A/E doubling until `done` matches a message.
    async fn transact(
        &self,
        msg: &str,
        rx: &mut mpsc::UnboundedReceiver<String>,
        done: impl Fn(&str) -> bool,
        timeout: Duration,
        retrans: &AtomicU64,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(500);
        let mut first = true;
        loop {
            if !first {
                retrans.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            self.send(msg).await;
            let resend = (Instant::now() + interval).min(deadline);
            loop {
                match tokio::time::timeout_at(resend, rx.recv()).await {
                    Ok(Some(m)) if done(&m) => return Ok(m),
                    Ok(Some(_)) => {}
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

fn final_for(cseq_method: &'static str, cseq: u32) -> impl Fn(&str) -> bool {
    move |m: &str| {
        status(m).is_some_and(|s| s >= 200)
            && header(m, "CSeq").is_some_and(|c| {
                let mut it = c.split_whitespace();
                it.next() == Some(&cseq.to_string()) && it.next() == Some(cseq_method)
            })
    }
}

/// A response to `req` with every Via, From, To (tagged), Call-ID and CSeq copied.
fn reply(req: &str, code: u16, reason: &str, to_tag: &str, extra: &str, body: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in req.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                if !line.contains(";tag=") {
                    out.push_str(";tag=");
                    out.push_str(to_tag);
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(extra);
    if body.is_empty() {
        out.push_str("Content-Length: 0\r\n\r\n");
    } else {
        out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    out
}

fn sdp(id: u64, port: u16) -> String {
    format!(
        "v=0\r\no=lg {id} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

fn challenge_of(m: &str) -> Result<Challenge, String> {
    let v = header(m, "WWW-Authenticate").ok_or("401 without WWW-Authenticate")?;
    Challenge::parse(v).map_err(|e| format!("challenge: {e}"))
}

// ---------------------------------------------------------------- RTP legs

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Receives what the operator said, relayed by the server.
    Caller = 0,
    /// Receives what the caller said.
    Operator = 1,
}

struct Leg {
    sock: StdUdpSocket,
    remote: SocketAddr,
    role: Role,
    stop: Arc<AtomicBool>,
    bucket: u64,
    seq: u16,
    send_no: u32,
    first_marked: bool,
    last: Option<(u32, i64, i64)>, // send number, send ns, arrival ns
}

#[derive(Default)]
struct Window {
    start_ns: AtomicI64,
    end_ns: AtomicI64,
}

impl Window {
    fn contains(&self, t: i64) -> bool {
        let s = self.start_ns.load(Ordering::Relaxed);
        let e = self.end_ns.load(Ordering::Relaxed);
        s != 0 && t >= s && (e == 0 || t < e)
    }
}

#[derive(Default)]
struct DirStats {
    sent: u64,
    received: u64,
    unmarked: u64,
    delay_ns: Vec<u32>,
    jitter_ns: Vec<u32>,
    interarrival_dev_ns: Vec<u32>,
}

#[derive(Default)]
struct MediaTotals {
    dirs: Mutex<[DirStats; 2]>,
    bridged: [AtomicU64; 2],
    send_late_us: Mutex<Vec<u32>>,
}

/// One thread sends and receives every leg: 20 buckets of 1 ms, each leg in one bucket, so
/// sends are spread over the period; packet k of every leg is due at start + k * 20 ms +
/// bucket ms (no drift). Each leg is drained just before it sends; arrivals carry the
/// kernel's timestamps, so draining late does not change the figures.
fn rtp_thread(
    rx: std::sync::mpsc::Receiver<Leg>,
    finish: Arc<AtomicBool>,
    window: Arc<Window>,
    totals: Arc<MediaTotals>,
    tone: Vec<u8>,
) {
    // Real-time priority when allowed (as the server's media workers have), so the figures
    // are not the generator's own scheduling delays on two shared cores.
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: this thread, a valid policy and parameter.
    let fifo = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0;
    eprintln!("loadgen rtp thread SCHED_FIFO: {fifo}");
    let start = std::time::Instant::now();
    let mut legs: Vec<Leg> = Vec::new();
    let mut next_bucket = 0u64;
    let mut dirs: [DirStats; 2] = Default::default();
    let mut late_us: Vec<u32> = Vec::new();
    let mut pkt = [0u8; 172];
    let mut buf = [0u8; 2048];
    let mut g: u64 = 0;
    let mut closed = false;
    loop {
        loop {
            match rx.try_recv() {
                Ok(mut l) => {
                    enable_timestamps(&l.sock);
                    l.bucket = next_bucket % BUCKETS;
                    next_bucket += 1;
                    legs.push(l);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if (closed && legs.is_empty()) || finish.load(Ordering::Relaxed) {
            break;
        }
        let due = start + Duration::from_millis(g);
        let now = std::time::Instant::now();
        if now < due {
            // sleep to 150 µs before the slot, then spin: timer slack is not in the figures
            if due - now > Duration::from_micros(150) {
                std::thread::sleep(due - now - Duration::from_micros(150));
            }
            while std::time::Instant::now() < due {
                std::hint::spin_loop();
            }
        } else if !legs.is_empty() {
            late_us.push((now - due).as_micros().min(u32::MAX as u128) as u32);
        }
        let b = g % BUCKETS;
        let mut i = 0;
        while i < legs.len() {
            if legs[i].bucket != b {
                i += 1;
                continue;
            }
            let l = &mut legs[i];
            while let Some((n, arrival)) = recv_timestamped(&l.sock, &mut buf) {
                account(l, &buf[..n], arrival, &window, &mut dirs, &totals);
            }
            if l.stop.load(Ordering::Relaxed) {
                legs.swap_remove(i);
                continue;
            }
            pkt[0] = 0x80;
            pkt[1] = 0;
            pkt[2..4].copy_from_slice(&l.seq.to_be_bytes());
            pkt[4..8].copy_from_slice(&(l.send_no.wrapping_mul(160)).to_be_bytes());
            pkt[8..12].copy_from_slice(&(0x5000_0000u32 + l.role as u32).to_be_bytes());
            pkt[12..].copy_from_slice(&tone);
            pkt[12..16].copy_from_slice(MARK);
            pkt[20..24].copy_from_slice(&l.send_no.to_be_bytes());
            let t = realtime_ns();
            pkt[24..32].copy_from_slice(&t.to_be_bytes());
            if l.sock.send_to(&pkt, l.remote).is_ok() && window.contains(t) {
                // counted in the direction of the receiver: the other role
                let d = 1 - l.role as usize;
                dirs[d].sent += 1;
            }
            l.seq = l.seq.wrapping_add(1);
            l.send_no += 1;
            i += 1;
        }
        g += 1;
    }
    let mut all = totals.dirs.lock().unwrap();
    for (a, d) in all.iter_mut().zip(dirs) {
        a.sent += d.sent;
        a.received += d.received;
        a.unmarked += d.unmarked;
        a.delay_ns.extend(d.delay_ns);
        a.jitter_ns.extend(d.jitter_ns);
        a.interarrival_dev_ns.extend(d.interarrival_dev_ns);
    }
    totals.send_late_us.lock().unwrap().extend(late_us);
}

fn account(
    l: &mut Leg,
    p: &[u8],
    arrival: i64,
    window: &Window,
    dirs: &mut [DirStats; 2],
    totals: &MediaTotals,
) {
    let d = &mut dirs[l.role as usize];
    if p.len() < 12 + 20 {
        d.unmarked += 1;
        return;
    }
    let cc = (p[0] & 0x0f) as usize;
    let off = 12 + 4 * cc;
    let pl = &p[off.min(p.len())..];
    if pl.len() < 20 || &pl[0..4] != MARK {
        d.unmarked += 1;
        return;
    }
    if !l.first_marked {
        l.first_marked = true;
        totals.bridged[l.role as usize].fetch_add(1, Ordering::Relaxed);
    }
    let no = u32::from_be_bytes(pl[8..12].try_into().unwrap());
    let sent = i64::from_be_bytes(pl[12..20].try_into().unwrap());
    if window.contains(sent) {
        d.received += 1;
        d.delay_ns
            .push((arrival - sent).clamp(0, u32::MAX as i64) as u32);
        if let Some((lno, lsent, larr)) = l.last {
            if no == lno.wrapping_add(1) {
                let j = ((arrival - larr) - (sent - lsent)).unsigned_abs();
                d.jitter_ns.push(j.min(u32::MAX as u64) as u32);
                let ia = ((arrival - larr) - 20_000_000).unsigned_abs();
                d.interarrival_dev_ns.push(ia.min(u32::MAX as u64) as u32);
            }
        }
    }
    l.last = Some((no, sent, arrival));
}

fn new_leg(role: Role, remote: SocketAddr, sock: StdUdpSocket) -> (Leg, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    (
        Leg {
            sock,
            remote,
            role,
            stop: stop.clone(),
            bucket: 0,
            seq: 0,
            send_no: 0,
            first_marked: false,
            last: None,
        },
        stop,
    )
}

fn rtp_socket() -> StdUdpSocket {
    let s = StdUdpSocket::bind("127.0.0.1:0").expect("bind RTP");
    s.set_nonblocking(true).unwrap();
    s
}

fn tone() -> Vec<u8> {
    // 400 Hz at 8 kHz: 20 samples a period, 8 periods a frame; -10 dBFS.
    (0..160)
        .map(|n| {
            let x = (2.0 * std::f64::consts::PI * 400.0 * n as f64 / 8000.0).sin() * 10_000.0;
            qonyrau::media::g711::linear_to_ulaw(x as i16)
        })
        .collect()
}

fn print_media(totals: &MediaTotals, labels: [&str; 2]) -> (u64, u64, f64, f64) {
    let mut dirs = totals.dirs.lock().unwrap();
    let mut lost_all = 0;
    let mut worst_jit = 0.0f64;
    let mut worst_delay = 0.0f64;
    let mut recv_all = 0;
    for (d, label) in dirs.iter_mut().zip(labels) {
        d.delay_ns.sort_unstable();
        d.jitter_ns.sort_unstable();
        d.interarrival_dev_ns.sort_unstable();
        let lost = d.sent.saturating_sub(d.received);
        lost_all += lost;
        recv_all += d.received;
        println!(
            "rtp {label}: sent_in_window={} received={} lost={} unmarked_received={}",
            d.sent, d.received, lost, d.unmarked
        );
        let us = |v: &[u32], p: f64| {
            if v.is_empty() {
                0.0
            } else {
                pct_u32(v, p) as f64 / 1000.0
            }
        };
        if !d.delay_ns.is_empty() {
            println!(
                "  one_way_delay_us p50={:.1} p99={:.1} p99.9={:.1} max={:.1}",
                us(&d.delay_ns, 50.0),
                us(&d.delay_ns, 99.0),
                us(&d.delay_ns, 99.9),
                *d.delay_ns.last().unwrap() as f64 / 1000.0
            );
            worst_delay = worst_delay.max(us(&d.delay_ns, 99.0));
        }
        if !d.jitter_ns.is_empty() {
            println!(
                "  jitter_us |d_arrival-d_send| ({} pairs) p50={:.1} p99={:.1} max={:.1}",
                d.jitter_ns.len(),
                us(&d.jitter_ns, 50.0),
                us(&d.jitter_ns, 99.0),
                *d.jitter_ns.last().unwrap() as f64 / 1000.0
            );
            println!(
                "  interarrival_dev_us |d_arrival-20ms| p50={:.1} p99={:.1} max={:.1}",
                us(&d.interarrival_dev_ns, 50.0),
                us(&d.interarrival_dev_ns, 99.0),
                *d.interarrival_dev_ns.last().unwrap() as f64 / 1000.0
            );
            worst_jit = worst_jit.max(us(&d.jitter_ns, 99.0));
        }
    }
    let mut late = totals.send_late_us.lock().unwrap();
    late.sort_unstable();
    if !late.is_empty() {
        println!(
            "loadgen send lateness_us (1 ms slots behind schedule: {} of slots) p50={} p99={} max={}",
            late.len(),
            pct_u32(&late, 50.0),
            pct_u32(&late, 99.0),
            late.last().unwrap()
        );
    }
    (lost_all, recv_all, worst_jit, worst_delay)
}

fn pct_u32(sorted: &[u32], p: f64) -> u32 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

// ---------------------------------------------------------------- registration

#[derive(Default)]
struct SipTotals {
    retrans: AtomicU64,
    failures: Mutex<HashMap<String, u64>>,
    latency_us: Mutex<Vec<u64>>,
    ok: AtomicU64,
}

impl SipTotals {
    fn fail(&self, why: String) {
        *self.failures.lock().unwrap().entry(why).or_default() += 1;
    }
    fn print(&self, what: &str) {
        let mut l = self.latency_us.lock().unwrap();
        l.sort_unstable();
        if !l.is_empty() {
            println!(
                "{what}_latency_ms p50={:.2} p99={:.2} max={:.2}",
                pct(&l, 50.0) as f64 / 1000.0,
                pct(&l, 99.0) as f64 / 1000.0,
                *l.last().unwrap() as f64 / 1000.0
            );
        }
        for (why, n) in self.failures.lock().unwrap().iter() {
            println!("failure {why}: {n}");
        }
    }
}

/// REGISTER (401) then REGISTER with Authorization (200); CSeq advances by two.
#[allow(clippy::too_many_arguments)]
async fn register_once(
    sip: &Sip,
    ext: u32,
    password: &str,
    call_id: &str,
    cseq: &mut u32,
    rx: &mut mpsc::UnboundedReceiver<String>,
    totals: &SipTotals,
    clear: bool,
) -> Result<(), String> {
    let uri = format!("sip:{}", sip.target);
    let l = sip.local;
    let contact = if clear {
        "Contact: *\r\nExpires: 0".to_string()
    } else {
        format!("Contact: <sip:{ext}@{l}>\r\nExpires: 3600")
    };
    let base = |cseq: u32, branch: u64, auth: &str| {
        format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-r{ext}-{branch};rport\r\nFrom: <sip:{ext}@{t}>;tag=r{ext}\r\nTo: <sip:{ext}@{t}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{contact}\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n",
            t = sip.target
        )
    };
    *cseq += 1;
    let m = sip
        .transact(
            &base(*cseq, BRANCH.fetch_add(1, Ordering::Relaxed), ""),
            rx,
            final_for("REGISTER", *cseq),
            Duration::from_secs(32),
            &totals.retrans,
        )
        .await?;
    if status(&m) != Some(401) {
        return Err(format!("REGISTER answered {}", status(&m).unwrap_or(0)));
    }
    let ch = challenge_of(&m)?;
    let cnonce = format!("{:08x}", rand::random::<u32>());
    let auth = format!(
        "Authorization: {}\r\n",
        authorization(
            &ch,
            &ext.to_string(),
            password,
            "REGISTER",
            &uri,
            &cnonce,
            1
        )
    );
    *cseq += 1;
    let m = sip
        .transact(
            &base(*cseq, BRANCH.fetch_add(1, Ordering::Relaxed), &auth),
            rx,
            final_for("REGISTER", *cseq),
            Duration::from_secs(32),
            &totals.retrans,
        )
        .await?;
    match status(&m) {
        Some(200) => Ok(()),
        s => Err(format!(
            "authenticated REGISTER answered {}",
            s.unwrap_or(0)
        )),
    }
}

pub async fn register_mode(args: &Args) {
    let sip = Sip::new(args.target).await;
    let totals = Arc::new(SipTotals::default());
    let n_ext = args.extensions.max(1) as u64;
    let total = args.calls;
    let pid = args.server_pid;
    // Start from no bindings (earlier runs' contacts would pile up to the limit of ten per
    // extension): `Contact: *`, `Expires: 0` for each extension, before the measured run.
    let tc = Instant::now();
    let mut clears = tokio::task::JoinSet::new();
    for e in 0..n_ext.min(total) {
        let (sip, totals, pw) = (sip.clone(), totals.clone(), args.sip_password.clone());
        let ext = args.operator_base + e as u32;
        let due = tc + Duration::from_secs_f64(e as f64 / 500.0);
        clears.spawn(async move {
            tokio::time::sleep_until(due).await;
            let call_id = format!("clr-{ext}-{}@loadgen", std::process::id());
            let (tx, mut rx) = mpsc::unbounded_channel();
            sip.routes.lock().unwrap().insert(call_id.clone(), tx);
            let mut cseq = 0;
            let r =
                register_once(&sip, ext, &pw, &call_id, &mut cseq, &mut rx, &totals, true).await;
            sip.routes.lock().unwrap().remove(&call_id);
            if let Err(e) = r {
                totals.fail(format!("clearing bindings: {e}"));
            }
        });
    }
    while clears.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    let cpu0 = pid.map(proc_cpu);
    let rss0 = pid.map(proc_rss_kib).unwrap_or(0);
    let mut tasks = tokio::task::JoinSet::new();
    for e in 0..n_ext.min(total) {
        let sip = sip.clone();
        let totals = totals.clone();
        let ext = args.operator_base + e as u32;
        let password = args.sip_password.clone();
        let rate = args.rate;
        tasks.spawn(async move {
            let call_id = format!("reg-{ext}-{}@loadgen", std::process::id());
            let (tx, mut rx) = mpsc::unbounded_channel();
            sip.routes.lock().unwrap().insert(call_id.clone(), tx);
            let mut cseq = 0;
            let mut k = e;
            while k < total {
                tokio::time::sleep_until(t0 + Duration::from_secs_f64(k as f64 / rate)).await;
                let started = Instant::now();
                match register_once(
                    &sip, ext, &password, &call_id, &mut cseq, &mut rx, &totals, false,
                )
                .await
                {
                    Ok(()) => {
                        totals.ok.fetch_add(1, Ordering::Relaxed);
                        totals
                            .latency_us
                            .lock()
                            .unwrap()
                            .push(started.elapsed().as_micros() as u64);
                    }
                    Err(why) => totals.fail(why),
                }
                k += n_ext;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = t0.elapsed().as_secs_f64();
    let ok = totals.ok.load(Ordering::Relaxed);
    let failed: u64 = totals.failures.lock().unwrap().values().sum();
    println!(
        "registrations_ok={ok} failed={failed} retransmissions={} extensions={n_ext} elapsed={elapsed:.2}s achieved_rate={:.0}/s",
        totals.retrans.load(Ordering::Relaxed),
        total as f64 / elapsed
    );
    totals.print("register");
    if let (Some(c0), Some(pid)) = (cpu0, pid) {
        let cpu = proc_cpu(pid) - c0;
        println!(
            "server_cpu_s={cpu:.3} server_cpu_ms_per_registration={:.4} (401 + 200 exchange)",
            cpu * 1000.0 / total.max(1) as f64
        );
        println!("server_rss_kib start={rss0} end={}", proc_rss_kib(pid));
    }
}

// ---------------------------------------------------------------- bridged calls

/// An operator: answer every INVITE with 200 + SDP, send RTP until the BYE.
async fn operator(
    sip: Arc<Sip>,
    ext: u32,
    mut rx: mpsc::UnboundedReceiver<String>,
    rtp: std::sync::mpsc::Sender<Leg>,
    answered: Arc<AtomicU64>,
    totals: Arc<SipTotals>,
) {
    let tag = format!("op{ext}");
    let mut current: Option<(String, String, Arc<AtomicBool>)> = None; // call-id, 200, stop
    while let Some(m) = rx.recv().await {
        let call_id = header(&m, "Call-ID")
            .or_else(|| header(&m, "i"))
            .unwrap_or("")
            .to_string();
        if m.starts_with("INVITE ") {
            if let Some((cid, ok, _)) = &current {
                if *cid == call_id {
                    sip.send(ok).await; // retransmitted INVITE
                } else {
                    sip.send(&reply(&m, 486, "Busy Here", &tag, "", "")).await;
                    totals.fail("operator got a second INVITE while busy".into());
                }
                continue;
            }
            let body = m.split("\r\n\r\n").nth(1).unwrap_or("");
            let Some(remote) = crate::parse_sdp_media(body) else {
                sip.send(&reply(&m, 488, "Not Acceptable Here", &tag, "", ""))
                    .await;
                totals.fail("INVITE to operator without SDP".into());
                continue;
            };
            let sock = rtp_socket();
            let port = sock.local_addr().unwrap().port();
            let ok = reply(
                &m,
                200,
                "OK",
                &tag,
                &format!("Contact: <sip:{ext}@{}>\r\n", sip.local),
                &sdp(ext as u64, port),
            );
            sip.send(&ok).await;
            answered.fetch_add(1, Ordering::Relaxed);
            let (leg, stop) = new_leg(Role::Operator, remote, sock);
            let _ = rtp.send(leg);
            current = Some((call_id, ok, stop));
        } else if m.starts_with("ACK ") {
            // 200 acknowledged; nothing to retransmit (loopback, no loss seen)
        } else if m.starts_with("BYE ") || m.starts_with("CANCEL ") {
            sip.send(&reply(&m, 200, "OK", &tag, "", "")).await;
            if let Some((cid, _, stop)) = &current {
                if *cid == call_id {
                    stop.store(true, Ordering::Relaxed);
                    sip.routes.lock().unwrap().remove(cid);
                    current = None;
                }
            }
        } else if status(&m).is_none() {
            sip.send(&reply(&m, 200, "OK", &tag, "", "")).await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn caller(
    sip: Arc<Sip>,
    n: u64,
    ext: u32,
    op: u32,
    password: String,
    rtp: std::sync::mpsc::Sender<Leg>,
    mut hangup: watch::Receiver<bool>,
    bye_delay: Duration,
    setup_timeout: Duration,
    totals: Arc<SipTotals>,
) -> Result<(), String> {
    let call_id = format!("bc-{n}-{}@loadgen", std::process::id());
    let (tx, mut rx) = mpsc::unbounded_channel();
    sip.routes.lock().unwrap().insert(call_id.clone(), tx);
    let sock = rtp_socket();
    let port = sock.local_addr().unwrap().port();
    let body = sdp(n, port);
    let uri = format!("sip:{op}@{}", sip.target);
    let l = sip.local;
    let from = format!("<sip:{ext}@{}>;tag=c{n}", sip.target);
    let invite = |cseq: u32, auth: &str| {
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-c{n}-{cseq};rport\r\nFrom: {from}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{ext}@{l}>\r\nMax-Forwards: 70\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let ack = |cseq: u32, to: &str| {
        format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-c{n}-{}{};rport\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            cseq,
            if cseq == 1 { "" } else { "a" }
        )
    };
    let started = Instant::now();
    let m = sip
        .transact(
            &invite(1, ""),
            &mut rx,
            final_for("INVITE", 1),
            setup_timeout,
            &totals.retrans,
        )
        .await?;
    if status(&m) != Some(401) {
        return Err(format!("first INVITE answered {}", status(&m).unwrap_or(0)));
    }
    sip.send(&ack(1, header(&m, "To").unwrap_or(""))).await;
    let ch = challenge_of(&m)?;
    let cnonce = format!("{:08x}", rand::random::<u32>());
    let auth = format!(
        "Authorization: {}\r\n",
        authorization(&ch, &ext.to_string(), &password, "INVITE", &uri, &cnonce, 1)
    );
    let m = sip
        .transact(
            &invite(2, &auth),
            &mut rx,
            final_for("INVITE", 2),
            setup_timeout,
            &totals.retrans,
        )
        .await?;
    if status(&m) != Some(200) {
        return Err(format!(
            "authenticated INVITE answered {}",
            status(&m).unwrap_or(0)
        ));
    }
    totals
        .latency_us
        .lock()
        .unwrap()
        .push(started.elapsed().as_micros() as u64);
    let to = header(&m, "To").unwrap_or("").to_string();
    sip.send(&ack(2, &to)).await;
    let remote = crate::parse_sdp_media(m.split("\r\n\r\n").nth(1).unwrap_or(""))
        .ok_or("200 without SDP")?;
    let (leg, stop) = new_leg(Role::Caller, remote, sock);
    let _ = rtp.send(leg);
    // Hold until told to hang up; a BYE from the server ends it early.
    let mut early = None;
    loop {
        tokio::select! {
            r = hangup.changed() => { if r.is_err() || *hangup.borrow() { break; } }
            m = rx.recv() => match m {
                Some(m) if m.starts_with("BYE ") => {
                    sip.send(&reply(&m, 200, "OK", "", "", "")).await;
                    early = Some("server hung up during hold".to_string());
                    break;
                }
                Some(m) if m.starts_with("INVITE ") => {
                    totals.fail("re-INVITE from server (answered 200)".into());
                    sip.send(&reply(&m, 200, "OK", "", "", &body)).await;
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    tokio::time::sleep(bye_delay).await;
    stop.store(true, Ordering::Relaxed);
    if let Some(why) = early {
        sip.routes.lock().unwrap().remove(&call_id);
        return Err(why);
    }
    let bye = format!(
        "BYE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-c{n}-bye;rport\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 3 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let r = sip
        .transact(
            &bye,
            &mut rx,
            final_for("BYE", 3),
            Duration::from_secs(32),
            &totals.retrans,
        )
        .await;
    sip.routes.lock().unwrap().remove(&call_id);
    match status(&r?) {
        Some(200) => Ok(()),
        s => Err(format!("BYE answered {}", s.unwrap_or(0))),
    }
}

pub async fn bridge_mode(args: &Args) {
    let n = args.extensions as u64;
    let window_len = dur(&args.window);
    let setup_timeout = dur(&args.setup_timeout);
    let pid = args.server_pid;
    let window = Arc::new(Window::default());
    let media = Arc::new(MediaTotals::default());
    let (rtp_tx, rtp_rx) = std::sync::mpsc::channel();
    let finish = Arc::new(AtomicBool::new(false));
    let rtp_thread = {
        let (w, m, f) = (window.clone(), media.clone(), finish.clone());
        std::thread::spawn(move || rtp_thread(rtp_rx, f, w, m, tone()))
    };
    let ops_sip = Sip::new(args.target).await;
    let callers_sip = Sip::new(args.target).await;
    let reg_totals = Arc::new(SipTotals::default());
    let call_totals = Arc::new(SipTotals::default());
    let answered = Arc::new(AtomicU64::new(0));

    // 1. Operators register (at --register-rate) and wait for INVITEs.
    let t_reg = Instant::now();
    let mut regs = tokio::task::JoinSet::new();
    for i in 0..n {
        let ext = args.operator_base + i as u32;
        let (tx, rx) = mpsc::unbounded_channel();
        ops_sip
            .operators
            .lock()
            .unwrap()
            .insert(ext.to_string(), tx);
        tokio::spawn(operator(
            ops_sip.clone(),
            ext,
            rx,
            rtp_tx.clone(),
            answered.clone(),
            call_totals.clone(),
        ));
        let (sip, totals, pw) = (
            ops_sip.clone(),
            reg_totals.clone(),
            args.sip_password.clone(),
        );
        let due = t_reg + Duration::from_secs_f64(i as f64 / args.register_rate);
        regs.spawn(async move {
            tokio::time::sleep_until(due).await;
            let call_id = format!("opreg-{ext}-{}@loadgen", std::process::id());
            let (tx, mut rx) = mpsc::unbounded_channel();
            sip.routes.lock().unwrap().insert(call_id.clone(), tx);
            let mut cseq = 0;
            // Remove earlier runs' contacts first, so the server rings only this one.
            let mut r =
                register_once(&sip, ext, &pw, &call_id, &mut cseq, &mut rx, &totals, true).await;
            if r.is_ok() {
                r = register_once(&sip, ext, &pw, &call_id, &mut cseq, &mut rx, &totals, false)
                    .await;
            }
            sip.routes.lock().unwrap().remove(&call_id);
            match r {
                Ok(()) => {
                    totals.ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => totals.fail(e),
            }
        });
    }
    while regs.join_next().await.is_some() {}
    println!(
        "operators_registered={} of {n} in {:.2}s",
        reg_totals.ok.load(Ordering::Relaxed),
        t_reg.elapsed().as_secs_f64()
    );
    reg_totals.print("operator_register");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 2. Callers dial at --rate/s.
    let cpu_before = pid.map(proc_cpu);
    let rss_before = pid.map(proc_rss_kib).unwrap_or(0);
    let (hang_tx, hang_rx) = watch::channel(false);
    let t0 = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = t0 + Duration::from_secs_f64(i as f64 / args.rate);
        let f = caller(
            callers_sip.clone(),
            i,
            args.caller_base + i as u32,
            args.operator_base + i as u32,
            args.sip_password.clone(),
            rtp_tx.clone(),
            hang_rx.clone(),
            Duration::from_secs_f64(i as f64 / args.rate),
            setup_timeout,
            call_totals.clone(),
        );
        let totals = call_totals.clone();
        calls.spawn(async move {
            tokio::time::sleep_until(due).await;
            match f.await {
                Ok(()) => {
                    totals.ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => totals.fail(e),
            }
        });
    }
    drop(rtp_tx);
    // 3. Wait until every call is bridged both ways (or the set-up time-out).
    let deadline = Instant::now() + Duration::from_secs_f64(n as f64 / args.rate) + setup_timeout;
    loop {
        let c = media.bridged[0].load(Ordering::Relaxed);
        let o = media.bridged[1].load(Ordering::Relaxed);
        if (c >= n && o >= n) || Instant::now() >= deadline {
            println!(
                "bridged: callers hearing the operator={c} operators hearing the caller={o} operators_answered={} of {n}, after {:.2}s",
                answered.load(Ordering::Relaxed),
                t0.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bridged = media.bridged[0]
        .load(Ordering::Relaxed)
        .min(media.bridged[1].load(Ordering::Relaxed));
    // 4. The steady window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = pid.map(proc_cpu);
    window.start_ns.store(realtime_ns(), Ordering::Relaxed);
    let mut peak = 0;
    let w_end = Instant::now() + window_len;
    while Instant::now() < w_end {
        if let Some(p) = pid {
            peak = peak.max(proc_rss_kib(p));
        }
        tokio::time::sleep_until((Instant::now() + Duration::from_millis(250)).min(w_end)).await;
    }
    window.end_ns.store(realtime_ns(), Ordering::Relaxed);
    let cpu1 = pid.map(proc_cpu);
    let rss_window = pid.map(proc_rss_kib).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(500)).await; // in-flight packets arrive
                                                          // 5. Hang up (callers' BYEs spread at --rate/s) and finish.
    let _ = hang_tx.send(true);
    while calls.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu_after = pid.map(proc_cpu);
    let rss_after = pid.map(proc_rss_kib).unwrap_or(0);
    finish.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || rtp_thread.join()).await;

    let failed: u64 = call_totals.failures.lock().unwrap().values().sum();
    println!(
        "calls_ok={} calls_failed={failed} sip_retransmissions={}",
        call_totals.ok.load(Ordering::Relaxed),
        call_totals.retrans.load(Ordering::Relaxed) + reg_totals.retrans.load(Ordering::Relaxed)
    );
    call_totals.print("caller_setup(INVITE..200, with 401 round)");
    let (lost, received, jit, delay) =
        print_media(&media, ["operator->caller", "caller->operator"]);
    if let (Some(pid), Some(c0), Some(c1), Some(cb), Some(ca)) =
        (pid, cpu0, cpu1, cpu_before, cpu_after)
    {
        let _ = pid;
        let secs = window_len.as_secs_f64();
        println!(
            "server_cpu_window_s={:.3} over {secs:.1}s with {bridged} bridged calls: server_cpu_ms_per_bridged_call_second={:.4}",
            c1 - c0,
            (c1 - c0) * 1000.0 / (bridged.max(1) as f64 * secs)
        );
        println!(
            "server_cpu_outside_window_s={:.3}: {:.3} ms per call (set-up, ramp-up and tear-down, media relayed meanwhile included)",
            (c0 - cb) + (ca - c1),
            ((c0 - cb) + (ca - c1)) * 1000.0 / n.max(1) as f64
        );
        println!(
            "server_rss_kib before_calls={rss_before} in_window={rss_window} peak_window={peak} after_hangup={rss_after} per_bridged_call_kib={:.1}",
            (rss_window.max(peak).saturating_sub(rss_before)) as f64 / bridged.max(1) as f64
        );
    }
    println!(
        "summary: bridged={bridged} lost={lost} received={received} jitter_p99_us={jit:.1} delay_p99_us={delay:.1}"
    );
}

/// The reference: pairs of sockets talking straight to each other (no server).
pub async fn direct_mode(args: &Args) {
    let pairs = args.extensions.max(1);
    let window = Arc::new(Window::default());
    let media = Arc::new(MediaTotals::default());
    let (rtp_tx, rtp_rx) = std::sync::mpsc::channel();
    let th = {
        let (w, m) = (window.clone(), media.clone());
        let f = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || rtp_thread(rtp_rx, f, w, m, tone()))
    };
    let mut stops = Vec::new();
    for _ in 0..pairs {
        let (a, b) = (rtp_socket(), rtp_socket());
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (la, sa) = new_leg(Role::Caller, ba, a);
        let (lb, sb) = new_leg(Role::Operator, aa, b);
        rtp_tx.send(la).unwrap();
        rtp_tx.send(lb).unwrap();
        stops.extend([sa, sb]);
    }
    drop(rtp_tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    window.start_ns.store(realtime_ns(), Ordering::Relaxed);
    tokio::time::sleep(dur(&args.window)).await;
    window.end_ns.store(realtime_ns(), Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in stops {
        s.store(true, Ordering::Relaxed);
    }
    let _ = tokio::task::spawn_blocking(move || th.join()).await;
    println!("direct socket pairs (no server): {pairs}");
    print_media(&media, ["b->a", "a->b"]);
}
