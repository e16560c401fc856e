//! The media engine (a driver): RTP sockets and the clock for every leg on the node.
//!
//! A few worker threads (one per core by default) each own a set of legs. A worker wakes on
//! a fixed 20 ms grid, applies commands, sends every due frame and drains the sockets of its
//! unbridged legs: one wake-up for all its legs instead of a task and a timer per call
//! (STYLE.md §7). Legs start on the grid, so frames leave at a constant offset from it and
//! receivers see little jitter. Sockets are non-blocking and read into one buffer per
//! worker; nothing is allocated, locked or logged per packet.
//!
//! Between two grid points the worker does not sleep blindly: it waits in `epoll_pwait2`
//! (nanosecond timeout up to the next grid point) on a second epoll set holding only the
//! sockets of *bridged* legs, so a packet received on one leg of a pair is rewritten by the
//! other leg's [`OutboundStream`](crate::media::bridge::OutboundStream) into a per-worker
//! buffer and sent to the other leg's peer as it arrives, microseconds later. Both legs of a
//! pair live on one worker ([`MediaEngine::allocate_leg_near`]), so relaying needs no thread
//! hop, lock or channel.
//!
//! Call tasks talk to their leg through a [`LegHandle`]: commands in (bounded, `try_send`),
//! events out (`PromptDone`, `Digit`, `RtpTimeout`, and `Quality` last, as the leg closes)
//! on a bounded channel per leg.
//!
//! Each leg has two sockets: RTP on an even port and RTCP on the odd port above it
//! (RFC 3550 §11). Both sit in the tick set; only the RTP socket moves to the live set when
//! bridged, so RTCP is handled on the tick and never relayed. With rtcp-mux (RFC 5761) the
//! leg's reports leave from the RTP socket and the peer's arrive there (the leg tells them
//! apart); the RTCP socket then stays bound but idle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::clock::{monotonic_now as now, Clock};
use crate::config::Config;
use crate::ivr::PlayId;
use crate::media::bridge::{DropReason, Relayed};
use crate::media::leg::{Leg, LegEvent, PACKET};
use crate::media::prompt::{MusicOnHold, Prompt, PromptLibrary};
use crate::media::rtcp::{is_rtcp, LegQuality, NtpTime, MAX_REPORT};
use crate::sdp::Negotiated;
use crate::telemetry;

/// One wake-up per frame: legs start on this grid, so every tick each leg has exactly one
/// frame due and (usually) one packet waiting.
const TICK: Duration = Duration::from_millis(20);

pub use crate::telemetry::{
    RTCP_INVALID, RTCP_RECEIVED, RTCP_SENT, RTP_RELAYED, RTP_RELAY_DROPPED,
};

/// `DropReason` labels, in the order of [`drop_index`].
const DROP_REASONS: [&str; 5] = [
    "malformed",
    "unknown_payload",
    "no_telephone_event",
    "buffer_too_small",
    "before_switch",
];

fn drop_index(r: DropReason) -> usize {
    match r {
        DropReason::Malformed => 0,
        DropReason::UnknownPayload => 1,
        DropReason::NoTelephoneEvent => 2,
        DropReason::BufferTooSmall => 3,
        DropReason::BeforeSwitch => 4,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free RTP/RTCP port pair in {0}-{1}")]
    NoPort(u16, u16),
    #[error("the media engine is overloaded")]
    Overloaded,
}

#[derive(Debug)]
pub enum LegCommand {
    Start(Negotiated),
    Update(Negotiated),
    /// Play these prompts, then silence; `PromptDone(id)` when all are sent. Unlinks a
    /// bridged leg first (its partner goes silent).
    Play {
        id: PlayId,
        prompts: Vec<Arc<Prompt>>,
    },
    /// Stop prompts or music on hold: silence. No effect on a bridge.
    Stop,
    /// Loop the prompts of music-on-hold class `class` (`sounds/moh/<class>/*.wav`; the
    /// class `default` is `sounds/moh/*.wav`, and plays instead of a class that does not
    /// exist) until another `Play`, `Stop`, `MusicOnHold` or `Bridge`. Unlinks a bridged leg
    /// first (its partner goes silent).
    MusicOnHold {
        class: Arc<str>,
    },
    /// Link this leg with leg `other` (its [`LegHandle::id`]), which must be on the same
    /// worker ([`MediaEngine::allocate_leg_near`]) and both started: local playback stops on
    /// both, and every packet received on one is relayed to the other as it arrives. Either
    /// leg's previous link is undone first. Otherwise ignored (logged at debug).
    Bridge {
        other: u64,
    },
    /// Undo this leg's link: both legs send silence until commanded.
    Unbridge,
}

enum WorkerCommand {
    Add {
        id: u64,
        socket: UdpSocket,
        rtcp: UdpSocket,
        port: u16,
        events: mpsc::Sender<LegEvent>,
    },
    Leg(u64, LegCommand),
    Close(u64),
}

struct Shared {
    ip: IpAddr,
    ports: Mutex<PortPool>,
    range: (u16, u16),
    workers: Vec<mpsc::Sender<WorkerCommand>>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
    inband: bool,
    rtp_timeout: Option<Duration>,
    rtcp_interval: Duration,
}

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct MediaEngine {
    shared: Arc<Shared>,
    pub prompts: Arc<PromptLibrary>,
}

/// One call's leg: its local port, a command sender, its events. Dropping it closes the leg.
pub struct LegHandle {
    pub id: u64,
    pub local_port: u16,
    worker: mpsc::Sender<WorkerCommand>,
    pub events: mpsc::Receiver<LegEvent>,
}

impl LegHandle {
    /// Queue a command for the worker; a full queue means the engine is overloaded.
    pub fn send(&self, cmd: LegCommand) -> Result<(), MediaError> {
        self.worker
            .try_send(WorkerCommand::Leg(self.id, cmd))
            .map_err(|_| MediaError::Overloaded)
    }
}

impl LegHandle {
    /// Close the leg and get its media quality: the worker sends [`LegEvent::Quality`] as
    /// the last event before it drops the leg, and this reads events up to it (events still
    /// queued before it are discarded). `None` if the leg was never started, the worker is
    /// gone, or the events queue was full. Takes one worker tick (≤ 20 ms); wrap it in a
    /// timeout if the engine may be stuck.
    pub async fn close(mut self) -> Option<LegQuality> {
        self.finish().await
    }

    /// As [`LegHandle::close`], keeping the handle (its drop then finds no leg to close):
    /// for an owner that cannot give the handle away while it waits.
    pub async fn finish(&mut self) -> Option<LegQuality> {
        let _ = self.worker.try_send(WorkerCommand::Close(self.id));
        while let Some(ev) = self.events.recv().await {
            if let LegEvent::Quality(q) = ev {
                return Some(*q);
            }
        }
        None
    }
}

impl Drop for LegHandle {
    fn drop(&mut self) {
        // If the queue is full the worker is gone or stuck; the leg dies with it either way.
        let _ = self.worker.try_send(WorkerCommand::Close(self.id));
    }
}

impl MediaEngine {
    /// Start the workers. The music-on-hold classes are loaded from
    /// `config.ivr.sounds_dir/moh` ([`MusicOnHold::load`]); a missing or malformed file, or
    /// a class directory without one, is an `InvalidData` error naming every such path.
    pub fn start(config: &Config, prompts: Arc<PromptLibrary>) -> std::io::Result<MediaEngine> {
        let moh = MusicOnHold::load(&config.ivr.sounds_dir).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("music on hold:\n{e}"),
            )
        })?;
        MediaEngine::start_with(config, prompts, Arc::new(moh))
    }

    /// [`start`](Self::start) with the music on hold loaded already (by the preflight,
    /// which checked it with the rest of the disk).
    pub fn start_with(
        config: &Config,
        prompts: Arc<PromptLibrary>,
        moh: Arc<MusicOnHold>,
    ) -> std::io::Result<MediaEngine> {
        let count = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::channel(16_384)).unzip();
        let (lo, hi) = (*config.rtp.ports.start(), *config.rtp.ports.end());
        let shared = Arc::new(Shared {
            ip: config.rtp.ip,
            ports: Mutex::new(PortPool::new(lo, hi)),
            range: (lo, hi),
            workers: senders,
            next_worker: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            inband: config.media.inband_dtmf,
            rtp_timeout: (!config.rtp.timeout.is_zero()).then_some(config.rtp.timeout),
            rtcp_interval: config.rtp.rtcp_interval,
        });
        for (i, rx) in receivers.into_iter().enumerate() {
            let worker = Worker::new(
                rx,
                Arc::downgrade(&shared),
                shared.inband,
                shared.rtp_timeout,
                shared.rtcp_interval,
                config.media.realtime,
                Arc::clone(&moh),
            )?;
            std::thread::Builder::new()
                .name(format!("media-{i}"))
                .spawn(move || worker.run())?;
        }
        Ok(MediaEngine { shared, prompts })
    }

    pub fn ip(&self) -> IpAddr {
        self.shared.ip
    }

    /// Bind an RTP port and the RTCP port above it and give the leg to a worker. The leg
    /// sends nothing until `Start`.
    pub fn allocate_leg(&self) -> Result<LegHandle, MediaError> {
        let s = &self.shared;
        let worker =
            s.workers[s.next_worker.fetch_add(1, Ordering::Relaxed) % s.workers.len()].clone();
        self.allocate_on(worker)
    }

    /// Like [`allocate_leg`](Self::allocate_leg), on the worker of `with`: legs to be
    /// bridged must share a worker, so relaying needs no thread hop.
    pub fn allocate_leg_near(&self, with: &LegHandle) -> Result<LegHandle, MediaError> {
        self.allocate_on(with.worker.clone())
    }

    fn allocate_on(&self, worker: mpsc::Sender<WorkerCommand>) -> Result<LegHandle, MediaError> {
        let s = &self.shared;
        let (socket, rtcp, port) = {
            let mut pool = s.ports.lock().expect("port pool lock");
            let mut found = None;
            for _ in 0..pool.free.len() {
                let Some(port) = pool.take() else { break };
                let bind = |p| UdpSocket::bind(SocketAddr::new(s.ip, p));
                match (bind(port), bind(port + 1)) {
                    (Ok(rtp), Ok(rtcp)) => {
                        found = Some((rtp, rtcp, port));
                        break;
                    }
                    _ => pool.give_back(port), // held by another process: try it again later
                }
            }
            found.ok_or(MediaError::NoPort(s.range.0, s.range.1))?
        };
        let _ = socket.set_nonblocking(true);
        let _ = rtcp.set_nonblocking(true);
        let id = s.next_id.fetch_add(1, Ordering::Relaxed);
        let (events_tx, events_rx) = mpsc::channel(64);
        worker
            .try_send(WorkerCommand::Add {
                id,
                socket,
                rtcp,
                port,
                events: events_tx,
            })
            .map_err(|_| MediaError::Overloaded)?;
        Ok(LegHandle {
            id,
            local_port: port,
            worker,
            events: events_rx,
        })
    }

    /// Legs open now (for /health and the memory benchmark).
    pub fn free_ports(&self) -> usize {
        self.shared.ports.lock().expect("port pool lock").free.len()
    }
}

/// Even ports of the range whose odd neighbour (RTCP) is in it too, handed out round-robin
/// so a port is not reused at once.
struct PortPool {
    free: std::collections::VecDeque<u16>,
}

impl PortPool {
    fn new(lo: u16, hi: u16) -> PortPool {
        PortPool {
            free: (lo..hi).filter(|p| p % 2 == 0).collect(),
        }
    }
    fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }
    fn give_back(&mut self, port: u16) {
        self.free.push_back(port);
    }
}

struct Slot {
    socket: UdpSocket,
    /// RTCP at `port + 1`: always in the tick set, idle when the leg muxes.
    rtcp: UdpSocket,
    port: u16,
    leg: Option<Leg>,
    events: mpsc::Sender<LegEvent>,
    /// The leg this one is bridged with; always mutual. Its socket is then in `live`.
    partner: Option<u64>,
}

/// At most this many queued datagrams are read (and dropped) from a leg as it is bridged.
const MAX_STALE: usize = 1024;

/// Relay counts since the last flush to the metrics (once per tick).
#[derive(Default)]
struct Counts {
    received: u64,
    relayed: u64,
    dropped: [u64; 5],
    rtcp_sent: u64,
    rtcp_received: u64,
    rtcp_invalid: u64,
}

/// Epoll tokens: the leg id, shifted, and which of its sockets is readable.
fn rtp_token(id: u64) -> u64 {
    id << 1
}

fn rtcp_token(id: u64) -> u64 {
    (id << 1) | 1
}

/// (leg id, whether it is the RTCP socket).
fn from_token(token: u64) -> (u64, bool) {
    (token >> 1, token & 1 == 1)
}

struct Worker {
    commands: mpsc::Receiver<WorkerCommand>,
    /// Boxed: the table then holds pointers, so its spare capacity and its resizes cost
    /// 16 bytes a bucket rather than a whole slot (docs/BENCHMARKS.md, memory per call).
    slots: HashMap<u64, Box<Slot>>,
    epoch: Instant,
    tick: u64,
    rng: u64,
    /// Weak: the shared state owns the command senders, so a strong reference here would
    /// keep the worker alive forever.
    shared: std::sync::Weak<Shared>,
    inband: bool,
    rtp_timeout: Option<Duration>,
    rtcp_interval: Duration,
    /// Sockets of unbridged legs (level-triggered, EPOLLIN), drained once per tick.
    epoll: OwnedFd,
    /// Sockets of bridged legs, waited on between ticks: relayed as they arrive.
    live: OwnedFd,
    realtime: bool,
    moh: Arc<MusicOnHold>,
    /// `epoll_pwait2` is missing (Linux < 5.11): wait with `epoll_wait`'s milliseconds.
    no_pwait2: bool,
}

fn epoll_create() -> std::io::Result<OwnedFd> {
    // SAFETY: epoll_create1 has no memory-safety preconditions; the result is checked.
    let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

impl Worker {
    fn new(
        commands: mpsc::Receiver<WorkerCommand>,
        shared: std::sync::Weak<Shared>,
        inband: bool,
        rtp_timeout: Option<Duration>,
        rtcp_interval: Duration,
        realtime: bool,
        moh: Arc<MusicOnHold>,
    ) -> std::io::Result<Worker> {
        let epoll = epoll_create()?;
        let live = epoll_create()?;
        let seed = std::collections::hash_map::RandomState::new();
        let rng = std::hash::BuildHasher::hash_one(&seed, std::thread::current().id()) | 1;
        Ok(Worker {
            commands,
            slots: HashMap::new(),
            epoch: now(),
            tick: 0,
            rng,
            shared,
            inband,
            rtp_timeout,
            rtcp_interval,
            epoll,
            live,
            realtime,
            moh,
            no_pwait2: false,
        })
    }

    /// Readable sockets now (no waiting); their leg ids are in `ready[..n]`.
    fn poll_ready(&self, ready: &mut [libc::epoll_event]) -> usize {
        // SAFETY: `ready` is a valid, writable buffer of `ready.len()` events.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                ready.as_mut_ptr(),
                ready.len() as i32,
                0,
            )
        };
        n.max(0) as usize
    }

    /// Readable bridged sockets, waiting at most `timeout`; their leg ids are in `ready[..n]`.
    fn wait_live(&mut self, ready: &mut [libc::epoll_event], timeout: Duration) -> usize {
        if !self.no_pwait2 {
            let ts = libc::timespec {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            // SAFETY: `ready` is a valid, writable buffer of `ready.len()` events; `ts`
            // outlives the call; a null sigmask means "leave the signal mask alone".
            let n = unsafe {
                libc::epoll_pwait2(
                    self.live.as_raw_fd(),
                    ready.as_mut_ptr(),
                    ready.len() as i32,
                    &ts,
                    std::ptr::null(),
                )
            };
            if n >= 0 {
                return n as usize;
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
                return 0; // EINTR: the caller checks the clock and waits again
            }
            self.no_pwait2 = true;
        }
        let ms = timeout.as_millis() as i32;
        if ms == 0 {
            // Below epoll_wait's resolution: sleep out the rest of the tick precisely.
            std::thread::sleep(timeout);
            return 0;
        }
        // SAFETY: as in `poll_ready`.
        let n = unsafe {
            libc::epoll_wait(
                self.live.as_raw_fd(),
                ready.as_mut_ptr(),
                ready.len() as i32,
                ms,
            )
        };
        n.max(0) as usize
    }

    /// Add `socket` to the epoll set `set` (`op` = `EPOLL_CTL_ADD`) or take it out
    /// (`EPOLL_CTL_DEL`), with `token` ([`rtp_token`], [`rtcp_token`]). A socket closed
    /// later leaves its set by itself.
    fn epoll_ctl(set: &OwnedFd, op: i32, socket: &UdpSocket, token: u64) {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are valid for the call and `ev` outlives it.
        let rc = unsafe { libc::epoll_ctl(set.as_raw_fd(), op, socket.as_raw_fd(), &mut ev) };
        if rc != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot watch an RTP socket");
        }
    }

    fn watch(&self, socket: &UdpSocket, rtcp: &UdpSocket, id: u64) {
        Self::epoll_ctl(&self.epoll, libc::EPOLL_CTL_ADD, socket, rtp_token(id));
        Self::epoll_ctl(&self.epoll, libc::EPOLL_CTL_ADD, rtcp, rtcp_token(id));
    }

    /// Link legs `a` and `b` (the `Bridge` command), after undoing their previous links.
    fn link(&mut self, a: u64, b: u64) {
        let started = |id| self.slots.get(&id).is_some_and(|s| s.leg.is_some());
        if a == b || !started(a) || !started(b) {
            tracing::debug!(
                leg = a,
                other = b,
                "bridge ignored: both legs must be started, distinct and on one worker"
            );
            return;
        }
        self.unlink(a);
        self.unlink(b);
        for (x, y) in [(a, b), (b, a)] {
            let Some(slot) = self.slots.get_mut(&x) else {
                continue;
            };
            // What a leg heard before the bridge and has not read yet (one read a tick, so a
            // peer's bursts queue up) is stale: seen for liveness and latching, never relayed
            // — else the other side gets seconds of old audio at once.
            let mut buf = [0u8; 2048];
            let mut stale = Counts::default();
            for _ in 0..MAX_STALE {
                let Ok((len, from)) = slot.socket.recv_from(&mut buf) else {
                    break;
                };
                if let Some(leg) = slot.leg.as_mut() {
                    receive(leg, now(), &buf[..len], from, false, &mut stale);
                }
            }
            slot.partner = Some(y);
            if let Some(leg) = slot.leg.as_mut() {
                leg.bridge();
            }
            Self::epoll_ctl(&self.epoll, libc::EPOLL_CTL_DEL, &slot.socket, rtp_token(x));
            Self::epoll_ctl(&self.live, libc::EPOLL_CTL_ADD, &slot.socket, rtp_token(x));
        }
    }

    /// Undo `id`'s link, if any: both legs back to the tick set, silent until commanded.
    fn unlink(&mut self, id: u64) {
        let Some(partner) = self.slots.get(&id).and_then(|s| s.partner) else {
            return;
        };
        for x in [id, partner] {
            let Some(slot) = self.slots.get_mut(&x) else {
                continue;
            };
            slot.partner = None;
            if let Some(leg) = slot.leg.as_mut() {
                leg.unbridge();
            }
            Self::epoll_ctl(&self.live, libc::EPOLL_CTL_DEL, &slot.socket, rtp_token(x));
            Self::epoll_ctl(&self.epoll, libc::EPOLL_CTL_ADD, &slot.socket, rtp_token(x));
        }
    }

    /// One datagram on bridged leg `id`: relay it to the partner at once (unless it is muxed
    /// RTCP: each leg keeps its own), then let the leg see it (digits, liveness, latching,
    /// RTCP).
    fn relay_ready(&mut self, id: u64, t: Instant, rx: &mut [u8], tx: &mut [u8], c: &mut Counts) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        let Ok((len, from)) = slot.socket.recv_from(rx) else {
            return;
        };
        let Some(map) = slot.leg.as_ref().map(Leg::payload_map) else {
            return;
        };
        let input = &rx[..len];
        let rtcp = is_rtcp(input);
        if let Some(other) = slot
            .partner
            .filter(|_| !rtcp)
            .and_then(|p| self.slots.get_mut(&p))
        {
            if let Some(leg) = other.leg.as_mut().filter(|l| l.sends()) {
                match leg.relay(t, input, &map, tx) {
                    Relayed::Sent(n) => {
                        let _ = other.socket.send_to(&tx[..n], leg.remote());
                        c.relayed += 1;
                    }
                    Relayed::Dropped(reason) => c.dropped[drop_index(reason)] += 1,
                }
            } // the partner is on hold: nothing goes to it
        }
        if let Some(leg) = self.slots.get_mut(&id).and_then(|s| s.leg.as_mut()) {
            receive(leg, t, input, from, false, c);
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: SSRCs and initial sequence numbers need only be unpredictable-ish.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn run(mut self) {
        if self.realtime {
            set_realtime();
        }
        let sent = metrics::counter!(telemetry::RTP_SENT);
        let received = metrics::counter!(telemetry::RTP_RECEIVED);
        let skipped = metrics::counter!(telemetry::RTP_SKIPPED);
        let relayed = metrics::counter!(RTP_RELAYED);
        let dropped = DROP_REASONS.map(|r| metrics::counter!(RTP_RELAY_DROPPED, "reason" => r));
        let rtcp_sent = metrics::counter!(RTCP_SENT);
        let rtcp_received = metrics::counter!(RTCP_RECEIVED);
        let rtcp_invalid = metrics::counter!(RTCP_INVALID);
        let mut counts = Counts::default();
        let mut buf = [0u8; PACKET];
        let mut report = [0u8; MAX_REPORT];
        let mut rx = [0u8; 2048];
        let mut tx = [0u8; 2048];
        let mut ready: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 4096];
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(cmd) => self.apply(cmd),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            let t = now();
            let (mut n_sent, mut n_skipped) = (0u64, 0u64);
            // Pass 1, sends only: each leg's frame leaves at a stable offset from the tick.
            for slot in self.slots.values_mut() {
                let Some(leg) = slot.leg.as_mut() else {
                    continue;
                };
                let before = leg.stats;
                let remote = leg.remote();
                while let Some(n) = leg.poll_transmit(t, &mut buf) {
                    let _ = slot.socket.send_to(&buf[..n], remote);
                }
                n_sent += leg.stats.sent - before.sent;
                n_skipped += leg.stats.skipped - before.skipped;
                // RTCP when due (every few seconds); muxed from the RTP socket.
                while let Some(n) = leg.poll_rtcp(t, &mut report) {
                    let socket = if leg.rtcp_mux() {
                        &slot.socket
                    } else {
                        &slot.rtcp
                    };
                    let _ = socket.send_to(&report[..n], leg.rtcp_remote());
                    counts.rtcp_sent += 1;
                }
            }
            // Pass 2, receives: only sockets the kernel says are readable, one datagram each
            // (level-triggered: one still queued shows up again next tick), so no empty reads.
            loop {
                let n = self.poll_ready(&mut ready);
                for ev in &ready[..n] {
                    let (id, on_rtcp) = from_token(ev.u64);
                    let Some(slot) = self.slots.get_mut(&id) else {
                        continue;
                    };
                    let socket = if on_rtcp { &slot.rtcp } else { &slot.socket };
                    // Muxed RTCP must not take the tick's one RTP read: the peer sends one
                    // RTP packet per tick, so each report would leave a datagram queued, and
                    // the stream 20 ms later, for good. Read again after one (a few at most).
                    for _ in 0..4 {
                        let Ok((len, from)) = socket.recv_from(&mut rx) else {
                            break;
                        };
                        let data = &rx[..len];
                        if let Some(leg) = slot.leg.as_mut() {
                            // The clock at the read, not the tick's: RTCP's round trip counts
                            // from it, and it must not precede the datagram's arrival.
                            receive(leg, now(), data, from, on_rtcp, &mut counts);
                        } // not started yet: an early packet, discarded
                        if on_rtcp || !is_rtcp(data) {
                            break;
                        }
                    }
                }
                if n < ready.len() {
                    break;
                }
            }
            // Pass 3, liveness and events to the call tasks.
            for slot in self.slots.values_mut() {
                let Some(leg) = slot.leg.as_mut() else {
                    continue;
                };
                leg.handle_tick(t);
                while let Some(ev) = leg.poll_event() {
                    let _ = slot.events.try_send(ev);
                }
            }
            self.tick += 1;
            let next = self.epoch + TICK * self.tick as u32;
            let t = now();
            // Until the next grid point, relay bridged legs' packets as they arrive. Behind:
            // still give the core away briefly (200 µs), so a real-time worker can never
            // starve signalling on the same core.
            let until = if next > t {
                next
            } else {
                t + Duration::from_micros(200)
            };
            loop {
                let w = now();
                if w >= until {
                    break;
                }
                let n = self.wait_live(&mut ready, until - w);
                let w = now();
                for ev in &ready[..n] {
                    let (id, _) = from_token(ev.u64); // only RTP sockets are live
                    self.relay_ready(id, w, &mut rx, &mut tx, &mut counts);
                }
            }
            sent.increment(n_sent);
            received.increment(std::mem::take(&mut counts.received));
            rtcp_sent.increment(std::mem::take(&mut counts.rtcp_sent));
            rtcp_received.increment(std::mem::take(&mut counts.rtcp_received));
            rtcp_invalid.increment(std::mem::take(&mut counts.rtcp_invalid));
            skipped.increment(n_skipped);
            relayed.increment(std::mem::take(&mut counts.relayed));
            for (counter, n) in dropped.iter().zip(counts.dropped.iter_mut()) {
                if *n > 0 {
                    counter.increment(std::mem::take(n));
                }
            }
            if t > next && t - next > TICK * 10 {
                // Far behind (suspended, overloaded): re-anchor the grid rather than spin.
                self.epoch = t;
                self.tick = 0;
            }
        }
    }

    fn apply(&mut self, cmd: WorkerCommand) {
        match cmd {
            WorkerCommand::Add {
                id,
                socket,
                rtcp,
                port,
                events,
            } => {
                self.watch(&socket, &rtcp, id);
                self.slots.insert(
                    id,
                    Box::new(Slot {
                        socket,
                        rtcp,
                        port,
                        leg: None,
                        events,
                        partner: None,
                    }),
                );
            }
            WorkerCommand::Leg(id, LegCommand::Bridge { other }) => self.link(id, other),
            WorkerCommand::Leg(id, LegCommand::Unbridge) => self.unlink(id),
            WorkerCommand::Leg(id, cmd) => {
                if matches!(
                    cmd,
                    LegCommand::Play { .. } | LegCommand::MusicOnHold { .. }
                ) {
                    self.unlink(id);
                }
                let (ssrc, seq, ts) = {
                    let r = self.random();
                    (r as u32, (r >> 32) as u16, (r >> 16) as u32)
                };
                // Frames start on the worker's next grid point.
                let start = self.epoch + TICK * (self.tick as u32 + 1);
                let (inband, timeout) = (self.inband, self.rtp_timeout);
                let (interval, seed) = (self.rtcp_interval, self.random());
                let Some(slot) = self.slots.get_mut(&id) else {
                    return;
                };
                match (cmd, slot.leg.as_mut()) {
                    (LegCommand::Start(n), None) => {
                        let leg = Leg::new(start, ssrc, seq, ts, &n, inband, timeout);
                        slot.leg = Some(leg.with_rtcp(ntp_at(start), interval, seed));
                    }
                    (LegCommand::Start(n) | LegCommand::Update(n), Some(leg)) => leg.update(&n),
                    (LegCommand::Play { id, prompts }, Some(leg)) => leg.play(id, prompts),
                    (LegCommand::Stop, Some(leg)) => leg.stop(),
                    (LegCommand::MusicOnHold { class }, Some(leg)) => {
                        leg.music_on_hold(self.moh.get(&class))
                    }
                    (LegCommand::Bridge { .. } | LegCommand::Unbridge, Some(_)) => {} // above
                    (_, None) => {}
                }
            }
            WorkerCommand::Close(id) => {
                self.unlink(id); // the partner goes silent: never a dangling link
                if let Some(slot) = self.slots.remove(&id) {
                    // The last event: what `LegHandle::close` waits for.
                    if let Some(leg) = &slot.leg {
                        let _ = slot
                            .events
                            .try_send(LegEvent::Quality(Box::new(leg.quality())));
                    }
                    if let Some(shared) = self.shared.upgrade() {
                        shared
                            .ports
                            .lock()
                            .expect("port pool lock")
                            .give_back(slot.port);
                    }
                }
            }
        }
    }
}

/// One datagram for a started leg, counted: RTP or muxed RTCP on its RTP socket, or RTCP on
/// its RTCP socket.
fn receive(
    leg: &mut Leg,
    t: Instant,
    data: &[u8],
    from: SocketAddr,
    on_rtcp: bool,
    c: &mut Counts,
) {
    let before = leg.rtcp_stats();
    if on_rtcp {
        leg.handle_rtcp_from(t, data, from);
    } else {
        leg.handle_rtp_from(t, data, from);
        c.received += u64::from(!is_rtcp(data));
    }
    let after = leg.rtcp_stats();
    c.rtcp_received += after.received - before.received;
    c.rtcp_invalid += after.invalid - before.invalid;
}

/// The wall clock (NTP) at `at`, for RTCP sender reports: read once per leg start.
fn ntp_at(at: Instant) -> NtpTime {
    let wall = crate::clock::SystemClock.now();
    let since_epoch =
        Duration::try_from(wall.duration_since(jiff::Timestamp::UNIX_EPOCH)).unwrap_or_default();
    NtpTime::from_unix(since_epoch) + at.saturating_duration_since(now())
}

/// Ask for SCHED_FIFO (priority 10) for the calling thread: frames then leave on time even
/// when other processes load the cores. Needs CAP_SYS_NICE (root); without it, the worker
/// keeps the normal policy and says so once.
fn set_realtime() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: pthread_self() is the calling thread; `param` is a valid sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc != 0 {
        tracing::info!(error = %std::io::Error::from_raw_os_error(rc), "media worker stays at normal priority");
    }
}
