//! The call event stream: every call fact is one typed, time-stamped [`CallEvent`] published
//! on one [`EventBus`]. Subscribers (metrics now; records, queue statistics and the console
//! later) consume it without the call knowing who listens (DESIGN.md, "The call event stream").
//!
//! Two kinds of subscriber:
//! - [`Subscriber`] (lossy): a `tokio::sync::broadcast` receiver. A subscriber that falls more
//!   than the bus's capacity behind skips the oldest events; the skipped count goes to
//!   [`EVENTS_DROPPED`] and one `warn` is logged per lag episode.
//! - [`DurableSubscriber`]: every event, in publish order, exactly once. Up to
//!   `memory_capacity` events wait in memory; beyond that they are appended as JSON lines to a
//!   spill file and read back in order. The only loss is a failed write or read of that file
//!   (disk full), and it is counted in [`EVENTS_DROPPED`] and logged at `error`.
//!
//! [`EventBus::publish`] never blocks on a subscriber and never awaits: a slow subscriber never
//! slows a call. It does not stamp time or decide anything about calls; the caller supplies
//! the whole event.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use metrics::{Counter, Gauge};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{broadcast, Notify};
use tracing::{error, warn};

/// Events a subscriber never got: lossy lag, or a durable subscriber's spill I/O failure.
/// Label `subscriber`.
pub const EVENTS_DROPPED: &str = "qonyrau_events_dropped_total";
/// Events a durable subscriber wrote to its spill file. Label `subscriber`.
pub const EVENTS_SPILLED: &str = "qonyrau_events_spilled_total";
/// Events waiting for a durable subscriber, in memory or on disk. Label `subscriber`.
pub const EVENTS_BUFFERED: &str = "qonyrau_events_buffered";

/// Spilled lines the durable reader reads back per batch (at most this many events sit in
/// the reader's hands beyond `memory_capacity`).
const READ_BATCH: usize = 256;

/// One call, as the event stream names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

/// One outbound leg of a call (an operator's phone, a transfer target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LegId(pub u64);

/// One call fact at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    pub at: jiff::Timestamp,
    pub call: CallId,
    #[serde(flatten)]
    pub fact: CallFact,
}

/// What happened. JSON: `{"fact":"leg_failed","leg":2,"target":"…","status":486,…}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum CallFact {
    Arrived {
        caller: String,
        dialled: String,
    },
    Answered,
    IvrNode {
        node: String,
    },
    Digit {
        digit: char,
        source: DigitSource,
    },
    LegRinging {
        leg: LegId,
        target: String,
    },
    LegAnswered {
        leg: LegId,
        target: String,
    },
    LegFailed {
        leg: LegId,
        target: String,
        /// The SIP final status, when the leg got one.
        status: Option<u16>,
        outcome: String,
    },
    Bridged {
        a: LegId,
        b: LegId,
    },
    Unbridged {
        a: LegId,
        b: LegId,
    },
    /// The operator put the caller on hold (the caller hears music on hold).
    Held {
        leg: LegId,
    },
    /// The operator took the caller off hold (bridged again).
    Resumed {
        leg: LegId,
    },
    /// The caller joined a queue at this position.
    QueueEntered {
        queue: String,
        position: u32,
    },
    /// The caller hung up while waiting in the queue.
    QueueAbandoned {
        queue: String,
        position: u32,
        waited_s: f64,
    },
    /// The caller booked a callback and left the line; the callback keeps their place.
    QueueCallbackBooked {
        queue: String,
        position: u32,
        waited_s: f64,
    },
    /// A step of a callback request (the callback service; `call` is 0, the request's own
    /// id is `callback`): requested, queued, withdrawn, placing, attempt_failed, completed,
    /// failed, closed_served, cancelled.
    Callback {
        callback: i64,
        queue: String,
        step: String,
        /// The attempt it concerns, from 1.
        attempt: Option<u32>,
        /// The SIP status of a failed attempt.
        status: Option<u16>,
    },
    /// The queue refused the caller or gave up on them (`full`, `maxwait`, `noagents`).
    QueueOverflowed {
        queue: String,
        reason: String,
    },
    /// An announcement to the caller waiting in a queue: their position and the estimated
    /// wait told (whole seconds; `None`: no estimate, nobody serving).
    QueueAnnounced {
        position: u32,
        ewt_s: Option<u32>,
    },
    /// The operator on `leg` transfers the caller to `target` (REFER); the target rings on
    /// a new leg (`LegRinging`…). Success: that leg is `Bridged` and `leg` ends with
    /// `transferred`.
    TransferRequested {
        leg: LegId,
        target: String,
    },
    /// The transfer's target did not answer (480), was busy (486) or failed: the caller
    /// goes back to the operator on `leg` (or on in the flow if they have hung up).
    TransferFailed {
        leg: LegId,
        status: u16,
    },
    LegEnded {
        leg: LegId,
        cause: EndCause,
        side: Side,
    },
    /// A media leg's RTP quality over its life (its own reception statistics and RTCP,
    /// RFC 3550), published when the leg is released — before `Ended` for the caller's.
    LegQuality {
        leg: LegId,
        packets_received: u64,
        packets_lost: i64,
        /// Lost over expected, 0–1.
        fraction_lost: f32,
        jitter_ms: f32,
        /// From the peer's RTCP reports, when it sent any.
        round_trip_ms: Option<f32>,
    },
    Ended {
        cause: EndCause,
        side: Side,
    },
}

/// How a DTMF digit arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitSource {
    /// RFC 4733 telephone-event in RTP.
    Rfc4733,
    /// SIP INFO (application/dtmf-relay).
    Info,
    /// Detected in the audio.
    Inband,
}

impl From<crate::media::dtmf::DigitSource> for DigitSource {
    fn from(s: crate::media::dtmf::DigitSource) -> DigitSource {
        use crate::media::dtmf::DigitSource as Media;
        match s {
            Media::Rfc4733 => DigitSource::Rfc4733,
            Media::Info => DigitSource::Info,
            Media::Inband => DigitSource::Inband,
        }
    }
}

impl DigitSource {
    /// The `qonyrau_dtmf_digits_total{source}` label (as `media::dtmf::DigitSource::label`).
    pub fn label(self) -> &'static str {
        match self {
            DigitSource::Rfc4733 => "rfc4733",
            DigitSource::Info => "info",
            DigitSource::Inband => "inband",
        }
    }
}

/// Who ended a call or a leg (the abandoned and short-abandon KPIs depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Caller,
    Operator,
    System,
}

impl Side {
    /// The metric label (same spelling as the JSON).
    pub fn label(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Operator => "operator",
            Side::System => "system",
        }
    }
}

/// Why a call or a leg ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndCause {
    /// BYE from the caller after answer.
    CallerHungUp,
    /// CANCEL from the caller before answer.
    CallerCancelled,
    OperatorHungUp,
    /// The operator's leg after a transfer they asked for succeeded.
    Transferred,
    FlowCompleted,
    MenuFailed,
    /// No ACK for our 2xx (RFC 3261 §13.3.1.4, Timer H).
    AckTimeout,
    RtpTimeout,
    NoCommonCodec,
    /// A session timer (RFC 4028) ran out: nobody refreshed the session.
    SessionExpired,
    Rejected,
    Shutdown,
    Error,
    /// The caller booked a callback and we ended the call.
    CallbackBooked,
}

impl EndCause {
    /// The metric label (same spelling as the JSON).
    pub fn label(self) -> &'static str {
        match self {
            EndCause::CallerHungUp => "caller_hung_up",
            EndCause::CallerCancelled => "caller_cancelled",
            EndCause::OperatorHungUp => "operator_hung_up",
            EndCause::Transferred => "transferred",
            EndCause::FlowCompleted => "flow_completed",
            EndCause::MenuFailed => "menu_failed",
            EndCause::AckTimeout => "ack_timeout",
            EndCause::RtpTimeout => "rtp_timeout",
            EndCause::NoCommonCodec => "no_common_codec",
            EndCause::SessionExpired => "session_expired",
            EndCause::Rejected => "rejected",
            EndCause::Shutdown => "shutdown",
            EndCause::Error => "error",
            EndCause::CallbackBooked => "callback_booked",
        }
    }
}

/// The one bus. Cheap to clone; subscribers see the end of the stream once every clone is
/// dropped.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

impl EventBus {
    /// `lossy_capacity` is how many events a lossy subscriber may fall behind before it skips
    /// (at least 1).
    pub fn new(lossy_capacity: usize) -> EventBus {
        let (lossy, _) = broadcast::channel(lossy_capacity.max(1));
        EventBus {
            inner: Arc::new(BusInner {
                lossy,
                durable: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Hands `ev` to every subscriber. Never awaits and never waits for a reader; the work is
    /// O(subscribers).
    ///
    /// While a durable subscriber is spilling, this appends one JSON line to its spill file,
    /// synchronously. That happens only under pressure (the subscriber is `memory_capacity`
    /// events behind) and costs one small buffered-by-the-kernel `write`; the alternative,
    /// dropping the event or waiting for the reader, would lose a record or slow the call.
    pub fn publish(&self, ev: CallEvent) {
        {
            let mut durable = lock(&self.inner.durable);
            // Detached subscribers (dropped readers) are forgotten here.
            durable.retain(|d| d.offer(&ev));
        }
        if self.inner.lossy.receiver_count() > 0 {
            // Err only when every receiver went away in between: nobody to tell.
            let _ = self.inner.lossy.send(Arc::new(ev));
        }
    }

    /// A lossy subscriber: sees events published from now on, skips the oldest if it falls
    /// behind by more than the bus's capacity.
    pub fn subscribe(&self, name: &'static str) -> Subscriber {
        Subscriber {
            name,
            rx: self.inner.lossy.subscribe(),
            dropped: metrics::counter!(EVENTS_DROPPED, "subscriber" => name),
            skipped: 0,
            lagging: false,
        }
    }

    /// A subscriber that gets every event published from now on, in order, exactly once.
    /// Up to `memory_capacity` events wait in memory; more go to `spill_path` (created on
    /// first need, removed once read back). A file left at `spill_path` by an earlier process
    /// is removed. Errors: removing that stale file failed.
    pub fn subscribe_durable(
        &self,
        name: &'static str,
        memory_capacity: usize,
        spill_path: PathBuf,
    ) -> io::Result<DurableSubscriber> {
        match std::fs::remove_file(&spill_path) {
            Ok(()) => {
                warn!(subscriber = name, path = %spill_path.display(), "removed a stale spill file")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let shared = Arc::new(Durable {
            name,
            capacity: memory_capacity,
            path: spill_path,
            state: Mutex::new(DurableState::default()),
            notify: Notify::new(),
            spilled: metrics::counter!(EVENTS_SPILLED, "subscriber" => name),
            dropped: metrics::counter!(EVENTS_DROPPED, "subscriber" => name),
            buffered: metrics::gauge!(EVENTS_BUFFERED, "subscriber" => name),
        });
        lock(&self.inner.durable).push(shared.clone());
        Ok(DurableSubscriber {
            shared,
            reader: None,
            taken: 0,
            line: Vec::new(),
            batch: VecDeque::new(),
        })
    }
}

/// A lossy subscriber. Dropping it unsubscribes.
pub struct Subscriber {
    name: &'static str,
    rx: broadcast::Receiver<Arc<CallEvent>>,
    dropped: Counter,
    skipped: u64,
    lagging: bool,
}

impl Subscriber {
    /// The next event, or `None` once every [`EventBus`] clone is dropped and the rest is
    /// read. After a lag, continues with the oldest event still available.
    pub async fn recv(&mut self) -> Option<Arc<CallEvent>> {
        loop {
            match self.rx.recv().await {
                Ok(ev) => {
                    // The episode ends when the subscriber has caught up.
                    if self.lagging && self.rx.is_empty() {
                        self.lagging = false;
                    }
                    return Some(ev);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.skipped += n;
                    self.dropped.increment(n);
                    if !self.lagging {
                        self.lagging = true;
                        warn!(
                            subscriber = self.name,
                            skipped = n,
                            "event subscriber fell behind"
                        );
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Events skipped because this subscriber fell behind, since it subscribed.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// A subscriber that loses nothing but its spill file's I/O failures (see [`Self::lost`]).
/// Dropping it unsubscribes and removes its spill file.
pub struct DurableSubscriber {
    shared: Arc<Durable>,
    /// The spill file opened for reading, positioned after the lines already taken.
    reader: Option<BufReader<tokio::fs::File>>,
    /// Lines of the current spill file taken (delivered to `batch` or counted lost). Owned
    /// here so a cancelled read loses nothing; copied to the shared `read` under the lock.
    taken: u64,
    /// A line being read back; kept across a cancelled read (`read_until` resumes).
    line: Vec<u8>,
    /// Lines read back from the spill file, not yet returned.
    batch: VecDeque<CallEvent>,
}

impl DurableSubscriber {
    /// The next event in publish order: memory first, then the spilled events read back from
    /// the file, then memory again. `None` once the bus is dropped and everything is
    /// delivered. Cancel-safe: a `recv` dropped mid-way loses and repeats nothing.
    pub async fn recv(&mut self) -> Option<CallEvent> {
        loop {
            if let Some(ev) = self.batch.pop_front() {
                return Some(ev);
            }
            let unread = {
                let shared = Arc::clone(&self.shared);
                let mut st = shared.lock();
                st.read = self.taken;
                if let Some(ev) = st.memory.pop_front() {
                    self.shared.report(&st);
                    return Some(ev);
                }
                if st.read == st.written && st.spill.is_some() {
                    // Everything spilled is read (a write failed after the last read):
                    // back to memory.
                    self.shared.end_spill(&mut st);
                    self.forget_file();
                }
                if st.read < st.written {
                    st.written - st.read
                } else if st.closed {
                    return None;
                } else {
                    0
                }
            };
            if unread == 0 {
                self.shared.notify.notified().await;
            } else {
                self.read_back(unread.min(READ_BATCH as u64)).await;
            }
        }
    }

    /// Events lost since subscribing: spill writes or reads that failed.
    pub fn lost(&self) -> u64 {
        self.shared.lock().lost
    }

    /// Reads `n` lines into `self.batch`. The publisher counts a line only after writing all
    /// of it, so all `n` are complete.
    async fn read_back(&mut self, n: u64) {
        let mut failed = None;
        if self.reader.is_none() {
            match tokio::fs::File::open(&self.shared.path).await {
                Ok(f) => self.reader = Some(BufReader::new(f)),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(reader) = self.reader.as_mut() {
            for _ in 0..n {
                match reader.read_until(b'\n', &mut self.line).await {
                    Ok(0) => {
                        failed = Some(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "spill file shorter than written",
                        ));
                        break;
                    }
                    Ok(_) => {
                        self.taken += 1;
                        match serde_json::from_slice(&self.line) {
                            Ok(ev) => self.batch.push_back(ev),
                            Err(e) => {
                                // A line garbled by an earlier failed write.
                                self.shared.lose(&mut self.shared.lock(), 1);
                                error!(subscriber = self.shared.name, error = %e, "unreadable spilled event");
                            }
                        }
                        self.line.clear();
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        }
        let shared = Arc::clone(&self.shared);
        let mut st = shared.lock();
        if let Some(e) = failed {
            // Where the next line starts is no longer known: give up the rest of this file
            // (counted) rather than risk delivering an event twice.
            let rest = st.written - self.taken;
            self.shared.lose(&mut st, rest);
            self.taken = st.written;
            error!(subscriber = self.shared.name, path = %self.shared.path.display(), error = %e, lost = rest, "reading the spill file failed");
        }
        st.read = self.taken;
        if st.read == st.written {
            // Every spilled event is in `self.batch` (which `recv` returns first), so later
            // events may go to memory again.
            self.shared.end_spill(&mut st);
            self.forget_file();
        }
        self.shared.report(&st);
    }

    /// After [`Durable::end_spill`]: the next spill file is read from its start.
    fn forget_file(&mut self) {
        self.reader = None;
        self.taken = 0;
        self.line.clear();
    }
}

impl Drop for DurableSubscriber {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.detached = true;
        st.memory.clear();
        if st.spill.is_some() {
            self.shared.end_spill(&mut st);
        }
        self.shared.report(&st);
    }
}

struct BusInner {
    lossy: broadcast::Sender<Arc<CallEvent>>,
    durable: Mutex<Vec<Arc<Durable>>>,
}

impl Drop for BusInner {
    fn drop(&mut self) {
        for d in lock(&self.durable).iter() {
            d.lock().closed = true;
            d.notify.notify_one();
        }
    }
}

/// What a durable subscriber shares with the bus.
struct Durable {
    name: &'static str,
    capacity: usize,
    path: PathBuf,
    /// Never held across an await.
    state: Mutex<DurableState>,
    /// Wakes the reader; `notify_one` keeps a permit, so a publish before the reader waits is
    /// not missed.
    notify: Notify,
    spilled: Counter,
    dropped: Counter,
    buffered: Gauge,
}

#[derive(Default)]
struct DurableState {
    memory: VecDeque<CallEvent>,
    /// `Some` while spilling: every later event goes to the file until the reader has read
    /// all of it, so memory events always precede file events and file events precede the
    /// memory events after them.
    spill: Option<SpillFile>,
    /// Complete lines in the spill file.
    written: u64,
    /// Lines the reader has taken (delivered or counted lost).
    read: u64,
    lost: u64,
    /// In a run of failed writes (one `error` log per run).
    failing: bool,
    closed: bool,
    detached: bool,
}

struct SpillFile {
    file: File,
    /// Bytes of complete lines; a failed write is cut back to this.
    len: u64,
}

impl Durable {
    fn lock(&self) -> MutexGuard<'_, DurableState> {
        lock(&self.state)
    }

    /// Takes `ev` from the bus. Returns false once the subscriber is gone.
    fn offer(&self, ev: &CallEvent) -> bool {
        let mut st = self.lock();
        if st.detached {
            return false;
        }
        if st.spill.is_none() && st.memory.len() < self.capacity {
            st.memory.push_back(ev.clone());
        } else {
            self.append(&mut st, ev);
        }
        self.report(&st);
        drop(st);
        self.notify.notify_one();
        true
    }

    fn append(&self, st: &mut DurableState, ev: &CallEvent) {
        let result = self.try_append(st, ev);
        match result {
            Ok(()) => {
                st.written += 1;
                st.failing = false;
                self.spilled.increment(1);
            }
            Err(e) => {
                self.lose(st, 1);
                if !st.failing {
                    st.failing = true;
                    error!(subscriber = self.name, path = %self.path.display(), error = %e, "spilling a call event failed; event lost");
                }
            }
        }
    }

    fn try_append(&self, st: &mut DurableState, ev: &CallEvent) -> io::Result<()> {
        let mut line = serde_json::to_vec(ev)?;
        line.push(b'\n');
        if st.spill.is_none() {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.path)?;
            st.spill = Some(SpillFile { file, len: 0 });
        }
        let spill = st.spill.as_mut().expect("opened above");
        match spill.file.write_all(&line) {
            Ok(()) => {
                spill.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut a partial line so the next one starts clean. If even that fails, the
                // garbled line is counted lost when read back.
                let _ = spill.file.set_len(spill.len);
                let _ = spill.file.seek(SeekFrom::Start(spill.len));
                Err(e)
            }
        }
    }

    fn lose(&self, st: &mut DurableState, n: u64) {
        st.lost += n;
        self.dropped.increment(n);
    }

    /// Spilling is over: later events go to memory; the file is removed.
    fn end_spill(&self, st: &mut DurableState) {
        st.spill = None;
        st.written = 0;
        st.read = 0;
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(subscriber = self.name, path = %self.path.display(), error = %e, "removing the spill file failed")
            }
        }
    }

    fn report(&self, st: &DurableState) {
        let waiting = st.memory.len() as u64 + (st.written - st.read);
        self.buffered.set(waiting as f64);
    }
}

/// Locks even if a panicking thread poisoned the lock: the data are plain queues and counts,
/// valid at every step, and publish must never panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
