//! The callback service (a driver): owns the [`CallbackBook`] and connects it to the rest.
//!
//! - A caller in a queue books a callback through [`CallbackHandle::book`] (the dialogue in
//!   `call::callback_offer` decided what to ask); the request is checked by the book, stored
//!   (`callback::store`, linked to a ticket) and admitted.
//! - The book's `Enqueue` puts a callback entry into the ACD at the caller's entry time, so the
//!   place is kept; the ACD reserves an agent when it reaches the head (`QueueSignal::Offer`),
//!   and the service starts a callback call (`callback::call_task`): agent first, then the
//!   customer through the queue's trunk. The call's reports go back to the book and the ACD.
//! - Every change the book makes is persisted; facts are logged and counted on `/metrics`.
//! - At start the open requests are loaded from the store: a restart loses none.
//!
//! It decides nothing itself: the rules are the book's, the call's steps are the call core's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::answer::{self, Step};
use super::book::{
    AttemptOutcome, CallbackAction, CallbackBook, CallbackFact, CallbackId, Counts, Record,
    Request, When,
};
use super::call::{CallbackCall, CallbackCallSetup, CallbackReport};
use super::store::{self, NewCallback};
use crate::acd::actor::{AcdHandle, AcdRequest, QueueSignal};
use crate::acd::{AgentId, EntryId, OfferFailure};
use crate::call::callback_offer::{Booking, Choice};
use crate::call::driver::CallEvent;
use crate::clock::Clock;
use crate::config::TrunkConfig;
use crate::db::Db;

/// A queue that offers callbacks: the key, and the trunk its callbacks are placed through.
#[derive(Clone, Debug)]
pub struct QueueCallbacks {
    pub key: char,
    /// The offer is announced when the estimated wait is at least this long.
    pub offer_after: Duration,
    pub trunk: Arc<TrunkConfig>,
}

/// What a caller asked for at the end of the dialogue.
#[derive(Clone, Debug)]
pub struct BookRequest {
    pub queue: Arc<str>,
    /// As keyed or as the caller ID gave it; the queue's trunk plan reads it.
    pub number: String,
    /// When the caller entered the queue: the place kept.
    pub entered_at: Timestamp,
    pub priority: u8,
    pub when: Choice,
    /// The SIP Call-ID of the call that asked.
    pub call_id: String,
}

#[derive(Debug)]
enum ServiceRequest {
    Book {
        req: BookRequest,
        reply: oneshot::Sender<Booking>,
    },
    Cancel {
        id: i64,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Served {
        number: String,
        queue: String,
    },
    Counts {
        reply: oneshot::Sender<BTreeMap<String, Counts>>,
    },
}

/// How calls and the API reach the service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CallbackHandle {
    tx: mpsc::Sender<ServiceRequest>,
    queues: Arc<HashMap<String, QueueCallbacks>>,
}

impl CallbackHandle {
    /// The queue's callback settings, when it offers callbacks.
    pub fn queue(&self, name: &str) -> Option<&QueueCallbacks> {
        self.queues.get(name)
    }

    /// Book a callback; the answer is what the caller is told.
    pub async fn book(&self, req: BookRequest) -> Booking {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(ServiceRequest::Book { req, reply })
            .await
            .is_err()
        {
            return Booking::DoNotContact;
        }
        rx.await.unwrap_or(Booking::DoNotContact)
    }

    /// Cancel a pending callback (the API).
    pub async fn cancel(&self, id: i64) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ServiceRequest::Cancel { id, reply })
            .await
            .map_err(|_| "the callback service is not running".to_string())?;
        rx.await
            .unwrap_or_else(|_| Err("the callback service is not running".into()))
    }

    /// A caller was answered by an agent of `queue`: their pending callbacks there close.
    pub async fn served(&self, number: &str, queue: &str) {
        let _ = self
            .tx
            .send(ServiceRequest::Served {
                number: number.to_string(),
                queue: queue.to_string(),
            })
            .await;
    }

    /// Pending and placing callbacks per queue.
    pub async fn counts(&self) -> BTreeMap<String, Counts> {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(ServiceRequest::Counts { reply })
            .await
            .is_err()
        {
            return BTreeMap::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// A callback whose place is in the ACD, or whose call runs.
#[derive(Default)]
struct InAcd {
    entry: Option<EntryId>,
    /// The agent reserved or on the call.
    agent: Option<AgentId>,
    /// The agent answered (the ACD's entry is gone; wrap-up follows the call).
    connected: bool,
    /// The running call's stop, when one runs.
    call: Option<tokio_util::sync::CancellationToken>,
}

/// Starts a callback call; the server gives the real one (`call_task`), tests their own.
pub trait CallPlacer: Send + Sync + 'static {
    /// A stop for a new call (the real placer's is a child of the server's: a stopping
    /// server ends callback calls too).
    fn stop_token(&self) -> tokio_util::sync::CancellationToken {
        tokio_util::sync::CancellationToken::new()
    }

    fn place(
        &mut self,
        call: CallbackCall,
        trunk: Arc<TrunkConfig>,
        queue: Arc<str>,
        stop: tokio_util::sync::CancellationToken,
        outcomes: mpsc::UnboundedSender<CallOutcome>,
    );
}

pub use super::call_task::CallbackCallOutcome as CallOutcome;

/// The real placer: each callback call is a [`CallbackCallTask`](super::call_task) of its
/// own, stopped by the service (withdrawn, cancelled) or by the server stopping.
pub struct TaskPlacer {
    pub endpoint: mpsc::Sender<crate::call::driver::EndpointCommand>,
    pub media: crate::media::engine::MediaEngine,
    pub prompts: Arc<crate::media::prompt::PromptLibrary>,
    pub language: String,
    pub location: crate::registrar::Location,
    pub bus: crate::call::events::EventBus,
    pub clock: Arc<dyn Clock>,
    /// The server's stop for calls: each callback call's stop is a child of it.
    pub calls_stop: tokio_util::sync::CancellationToken,
    /// The calls' presence (who is busy), shared with the inbound calls.
    pub presence: crate::call::presence::Presence,
}

impl CallPlacer for TaskPlacer {
    fn stop_token(&self) -> tokio_util::sync::CancellationToken {
        self.calls_stop.child_token()
    }

    fn place(
        &mut self,
        call: CallbackCall,
        trunk: Arc<TrunkConfig>,
        queue: Arc<str>,
        stop: tokio_util::sync::CancellationToken,
        outcomes: mpsc::UnboundedSender<CallOutcome>,
    ) {
        let links = super::call_task::CallbackCallLinks {
            endpoint: self.endpoint.clone(),
            media: self.media.clone(),
            prompts: Arc::clone(&self.prompts),
            language: self.language.clone(),
            location: self.location.clone(),
            bus: self.bus.clone(),
            clock: Arc::clone(&self.clock),
            trunk,
            queue,
            stop,
            presence: self.presence.clone(),
        };
        let task = super::call_task::CallbackCallTask {
            call,
            links,
            outcomes,
        };
        tokio::spawn(task.run());
    }
}

pub struct CallbackService {
    book: CallbackBook,
    /// The call event stream: every step of every request is published on it.
    bus: Option<crate::call::events::EventBus>,
    db: Db,
    desk: Option<crate::tickets::store::TicketDesk>,
    acd: AcdHandle,
    clock: Arc<dyn Clock>,
    queues: Arc<HashMap<String, QueueCallbacks>>,
    placer: Box<dyn CallPlacer>,
    rx: mpsc::Receiver<ServiceRequest>,
    signals_tx: mpsc::Sender<(CallbackId, QueueSignal)>,
    signals: mpsc::Receiver<(CallbackId, QueueSignal)>,
    outcomes_tx: mpsc::UnboundedSender<CallOutcome>,
    outcomes: mpsc::UnboundedReceiver<CallOutcome>,
    in_acd: HashMap<CallbackId, InAcd>,
    /// Each pending callback's queue, for the metrics of facts that end it (the book
    /// forgets a callback as it ends).
    queue_of: HashMap<CallbackId, String>,
}

/// The service's end of the handle's channel, until the service is built (the handle goes
/// to the calls before the endpoint, which the service's calls need, exists).
pub struct Inbox {
    rx: mpsc::Receiver<ServiceRequest>,
    queues: Arc<HashMap<String, QueueCallbacks>>,
}

/// The handle and the inbox of a service for `queues`.
pub fn channel(queues: HashMap<String, QueueCallbacks>) -> (CallbackHandle, Inbox) {
    let (tx, rx) = mpsc::channel(1024);
    let queues = Arc::new(queues);
    let handle = CallbackHandle {
        tx,
        queues: Arc::clone(&queues),
    };
    (handle, Inbox { rx, queues })
}

impl CallbackService {
    pub fn new(
        inbox: Inbox,
        book: CallbackBook,
        db: Db,
        desk: Option<crate::tickets::store::TicketDesk>,
        acd: AcdHandle,
        clock: Arc<dyn Clock>,
        placer: Box<dyn CallPlacer>,
    ) -> CallbackService {
        let Inbox { rx, queues } = inbox;
        let (signals_tx, signals) = mpsc::channel(1024);
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        CallbackService {
            book,
            bus: None,
            db,
            desk,
            acd,
            clock,
            queues,
            placer,
            rx,
            signals_tx,
            signals,
            outcomes_tx,
            outcomes,
            in_acd: HashMap::new(),
            queue_of: HashMap::new(),
        }
    }

    /// Publish every step on this event stream.
    pub fn with_bus(mut self, bus: crate::call::events::EventBus) -> CallbackService {
        self.bus = Some(bus);
        self
    }

    /// Load the open requests (a restart loses none), then serve.
    pub async fn run(mut self) {
        match store::open(&self.db).await {
            Ok(rows) => {
                let n = rows.len();
                for row in rows {
                    let request = Request {
                        queue: row.queue,
                        number: row.number,
                        entered_at: row.entered_at,
                        priority: row.priority.clamp(0, 9) as u8,
                        when: row.chosen_at.map_or(When::Asap, When::At),
                    };
                    self.queue_of
                        .insert(CallbackId(row.id), request.queue.clone());
                    let record = Record {
                        request,
                        attempts: row.attempts.max(0) as u32,
                        due: row.due_at,
                    };
                    if let Err(e) = self.book.restore(CallbackId(row.id), record) {
                        warn!(id = row.id, error = %e, "callback not restored");
                    }
                }
                if n > 0 {
                    info!(callbacks = n, "open callbacks loaded");
                }
            }
            Err(e) => warn!(error = %e, "open callbacks not loaded"),
        }
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.book.handle_timeout(self.clock.now());
            self.drain().await;
            let wake = self.book.poll_timeout().map(|at| {
                let now = self.clock.now();
                let wait = Duration::try_from(now.duration_until(at)).unwrap_or(Duration::ZERO);
                crate::clock::monotonic_now() + wait
            });
            tokio::select! {
                req = self.rx.recv() => match req {
                    Some(req) => self.handle(req).await,
                    None => return,
                },
                Some((id, signal)) = self.signals.recv() => self.queue_signal(id, signal).await,
                Some(outcome) = self.outcomes.recv() => self.call_outcome(outcome).await,
                _ = crate::clock::sleep_until(wake) => {}
                _ = gauges.tick() => self.export_gauges(),
            }
        }
    }

    async fn handle(&mut self, req: ServiceRequest) {
        match req {
            ServiceRequest::Book { req, reply } => {
                let booking = self.book_request(req).await;
                let _ = reply.send(booking);
            }
            ServiceRequest::Cancel { id, reply } => {
                let now = self.clock.now();
                let result = self
                    .book
                    .cancel(now, CallbackId(id))
                    .map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
            ServiceRequest::Served { number, queue } => {
                let Some(q) = self.queues.get(&queue) else {
                    return;
                };
                if let Ok(number) = q.trunk.plan.canonical(&number) {
                    let now = self.clock.now();
                    self.book.served(now, &number, &queue);
                }
            }
            ServiceRequest::Counts { reply } => {
                let _ = reply.send(self.book.counts_by_queue());
            }
        }
    }

    async fn book_request(&mut self, req: BookRequest) -> Booking {
        let now = self.clock.now();
        let Some(q) = self.queues.get(&*req.queue).cloned() else {
            warn!(queue = %req.queue, "a callback for a queue that offers none");
            return Booking::DoNotContact;
        };
        let Ok(number) = q.trunk.plan.canonical(&req.number) else {
            return Booking::DoNotContact;
        };
        let when = match req.when {
            Choice::Asap => When::Asap,
            Choice::Hour(h) => match answer::next_hour(now, h) {
                Some(at) => When::At(at),
                None => return Booking::HourClosed,
            },
        };
        let request = Request {
            queue: req.queue.to_string(),
            number: number.clone(),
            entered_at: req.entered_at,
            priority: req.priority,
            when,
        };
        let dnc = match self.do_not_contact(&q.trunk, &number).await {
            Ok(dnc) => dnc,
            Err(e) => {
                // Without the list we cannot know: we do not promise a call.
                warn!(error = %e, "do-not-contact list unreadable: callback refused");
                return Booking::DoNotContact;
            }
        };
        let accepted = match self.book.check(now, &request, dnc) {
            Ok(a) => a,
            Err(refused) => {
                metrics::counter!(crate::telemetry::CALLBACKS, "queue" => request.queue.clone(), "outcome" => "refused").increment(1);
                return answer::refused(&refused);
            }
        };
        let ticket = self.open_ticket(now, &request).await;
        let new = NewCallback {
            queue: request.queue.clone(),
            number: number.clone(),
            requested_at: now,
            entered_at: request.entered_at,
            priority: i64::from(request.priority),
            due_at: accepted.due,
            chosen_at: match when {
                When::At(t) => Some(t),
                When::Asap => None,
            },
            ticket_id: ticket,
            call_id: Some(req.call_id.clone()),
        };
        let id = match store::insert(&self.db, &new).await {
            Ok(id) => id,
            Err(store::StoreError::Duplicate) => return Booking::Duplicate,
            Err(e) => {
                // Not stored, not promised: a restart would lose it.
                warn!(error = %e, "callback not stored: refused");
                return Booking::DoNotContact;
            }
        };
        if let Err(e) = self.book.admit(now, CallbackId(id), request) {
            warn!(id, error = %e, "stored callback not admitted");
            return Booking::Duplicate;
        }
        info!(id, queue = %req.queue, due = %accepted.due, "callback booked");
        answer::booked(req.when, accepted.out_of_hours)
    }

    /// Is `number` (E.164) a contact who asked not to be contacted? Contacts' phones are
    /// stored as typed, so each is read with the trunk's plan.
    async fn do_not_contact(
        &self,
        trunk: &TrunkConfig,
        number: &str,
    ) -> Result<bool, crate::db::DbError> {
        let phones = crate::contacts::store::do_not_contact_phones(&self.db).await?;
        Ok(phones
            .iter()
            .any(|p| trunk.plan.canonical(p).is_ok_and(|c| c == number)))
    }

    /// The ticket a callback request is linked to (a consultation by phone).
    async fn open_ticket(&self, now: Timestamp, r: &Request) -> Option<i64> {
        use crate::tickets::model::{Channel, Impact, ServiceLevel, TicketType, Urgency};
        use crate::tickets::store::NewTicket;
        let desk = self.desk.as_ref()?;
        let t = NewTicket {
            kind: TicketType::Consultation,
            channel: Channel::Phone,
            subject: format!("Callback requested ({})", r.queue),
            description: format!(
                "The caller asked to be called back at {} from the queue {}.",
                r.number, r.queue
            ),
            impact: Impact::Low,
            urgency: Urgency::Medium,
            service_level: ServiceLevel::Basic,
            criticality: None,
            complaint_category: None,
            department: None,
            contact: crate::contacts::store::NewContact {
                phone: r.number.clone(),
                ..Default::default()
            },
        };
        match desk.open(now, "system", t).await {
            Ok(opened) => Some(opened.id),
            Err(e) => {
                warn!(error = %e, "callback ticket not opened");
                None
            }
        }
    }

    async fn drain(&mut self) {
        while let Some(action) = self.book.poll_action() {
            self.perform(action).await;
        }
    }

    async fn perform(&mut self, action: CallbackAction) {
        match action {
            CallbackAction::Enqueue {
                id,
                queue,
                since,
                priority,
            } => {
                if self.in_acd.get(&id).is_some_and(|p| p.entry.is_some()) {
                    // Still in the ACD (a reserved agent missed: the ACD reserves the next).
                    return;
                }
                let (notify, mut rx) = mpsc::channel::<CallEvent>(16);
                let signals = self.signals_tx.clone();
                tokio::spawn(async move {
                    while let Some(ev) = rx.recv().await {
                        if let CallEvent::Queue(s) = ev {
                            if signals.send((id, s)).await.is_err() {
                                return;
                            }
                        }
                    }
                });
                self.in_acd.insert(id, InAcd::default());
                let entered = self.instant_of(since);
                self.acd
                    .send(AcdRequest::EnterCallback {
                        queue: Arc::from(queue),
                        priority,
                        entered,
                        notify,
                    })
                    .await;
            }
            CallbackAction::Withdraw { id } => {
                if let Some(p) = self.in_acd.remove(&id) {
                    if let Some(stop) = p.call {
                        stop.cancel();
                    }
                    if let (Some(entry), false) = (p.entry, p.connected) {
                        self.acd.send(AcdRequest::Left { entry }).await;
                    }
                }
            }
            CallbackAction::Persist {
                id,
                state,
                attempts,
                due,
            } => {
                let (name, reason) = answer::stored_state(state);
                let now = self.clock.now();
                let due = due.unwrap_or(now);
                if let Err(e) =
                    store::update_state(&self.db, id.0, name, i64::from(attempts), due, reason, now)
                        .await
                {
                    warn!(id = id.0, error = %e, "callback state not stored");
                }
            }
            CallbackAction::Fact(fact) => {
                if let CallbackFact::Requested { id, queue, .. } = &fact {
                    self.queue_of.insert(*id, queue.clone());
                }
                info!(callback = ?fact, "callback");
                let step = Step::of(&fact);
                self.publish(step);
                if step.ends() {
                    self.queue_of.remove(&step.id);
                }
            }
        }
    }

    /// A step on the event stream and, when it counts, on `/metrics`.
    fn publish(&self, step: Step) {
        let queue = self.queue_of.get(&step.id).cloned().unwrap_or_default();
        if let Some(bus) = &self.bus {
            bus.publish(crate::call::events::CallEvent {
                at: self.clock.now(),
                call: crate::call::events::CallId(0),
                fact: crate::call::events::CallFact::Callback {
                    callback: step.id.0,
                    queue: queue.clone(),
                    step: step.name.to_string(),
                    attempt: step.attempt,
                    status: step.status,
                },
            });
        }
        if let Some(outcome) = step.outcome() {
            metrics::counter!(crate::telemetry::CALLBACKS, "queue" => queue, "outcome" => outcome)
                .increment(1);
        }
    }

    async fn queue_signal(&mut self, id: CallbackId, signal: QueueSignal) {
        match signal {
            QueueSignal::Entered { entry } => {
                if let Some(p) = self.in_acd.get_mut(&id) {
                    p.entry = Some(entry);
                } else {
                    // Withdrawn before the ACD took it in: it must forget it.
                    self.acd.send(AcdRequest::Left { entry }).await;
                }
            }
            QueueSignal::Offer { agent, extension } => {
                let now = self.clock.now();
                let Some(c) = self.book.get(id) else {
                    return;
                };
                let (queue, number) = (c.request().queue.clone(), c.request().number.clone());
                if let Err(e) = self.book.reserved(now, id) {
                    debug!(id = id.0, error = %e, "reservation not taken");
                    if let Some(entry) = self.in_acd.get(&id).and_then(|p| p.entry) {
                        self.acd
                            .send(AcdRequest::OfferFailed {
                                entry,
                                agent,
                                failure: OfferFailure::Declined,
                            })
                            .await;
                    }
                    return;
                }
                let Some(q) = self.queues.get(&queue) else {
                    return;
                };
                let stop = self.placer.stop_token();
                if let Some(p) = self.in_acd.get_mut(&id) {
                    p.agent = Some(agent);
                    p.call = Some(stop.clone());
                }
                let call = CallbackCall::new(
                    crate::clock::monotonic_now(),
                    CallbackCallSetup::new(id, extension, number),
                );
                self.placer.place(
                    call,
                    Arc::clone(&q.trunk),
                    Arc::from(queue.as_str()),
                    stop,
                    self.outcomes_tx.clone(),
                );
            }
            QueueSignal::CancelOffer { .. } => {
                if let Some(stop) = self.in_acd.get(&id).and_then(|p| p.call.clone()) {
                    stop.cancel();
                }
            }
            QueueSignal::Overflow { reason } => {
                warn!(
                    id = id.0,
                    ?reason,
                    "a callback's queue refused it; kept for later"
                );
                self.in_acd.remove(&id);
            }
        }
    }

    async fn call_outcome(&mut self, outcome: CallOutcome) {
        let now = self.clock.now();
        match outcome {
            CallOutcome::Report(id, report) => {
                let p = self.in_acd.get_mut(&id);
                let (entry, agent) = p.as_ref().map_or((None, None), |p| (p.entry, p.agent));
                match report {
                    CallbackReport::Placing => {
                        if let (Some(entry), Some(agent)) = (entry, agent) {
                            self.acd.send(AcdRequest::Answered { entry, agent }).await;
                        }
                        if let Some(p) = self.in_acd.get_mut(&id) {
                            p.connected = true;
                            p.entry = None;
                        }
                    }
                    CallbackReport::AgentMissed => {
                        if let Some(p) = self.in_acd.get_mut(&id) {
                            p.call = None;
                            p.agent = None;
                        }
                        if let (Some(entry), Some(agent)) = (entry, agent) {
                            self.acd
                                .send(AcdRequest::OfferFailed {
                                    entry,
                                    agent,
                                    failure: OfferFailure::NoAnswer,
                                })
                                .await;
                        }
                        let _ = self.book.agent_missed(now, id);
                    }
                    CallbackReport::AgentLeft => {
                        let _ = self.book.agent_missed(now, id);
                    }
                    CallbackReport::Attempt(AttemptOutcome { status, answered }) => {
                        let attempt = self.book.get(id).map_or(1, |c| c.attempts() + 1);
                        let outcome = answer::attempt_label(status, answered);
                        if let Err(e) = store::record_attempt(
                            &self.db,
                            id.0,
                            i64::from(attempt),
                            now,
                            now,
                            status,
                            outcome,
                        )
                        .await
                        {
                            warn!(id = id.0, error = %e, "callback attempt not stored");
                        }
                        let _ =
                            self.book
                                .attempt_result(now, id, AttemptOutcome { status, answered });
                    }
                }
            }
            CallOutcome::Finished(id, end) => {
                debug!(id = id.0, ?end, "callback call over");
                let connected = self.in_acd.get(&id).is_some_and(|p| p.connected);
                let agent = self.in_acd.get(&id).and_then(|p| p.agent);
                if connected {
                    self.in_acd.remove(&id);
                    if let Some(agent) = agent {
                        self.acd.send(AcdRequest::CallEnded { agent }).await;
                    }
                } else if let Some(p) = self.in_acd.get_mut(&id) {
                    p.call = None;
                }
            }
        }
    }

    /// The monotonic instant of a wall time in the past (the ACD orders entries by it).
    fn instant_of(&self, at: Timestamp) -> Instant {
        let age = Duration::try_from(at.duration_until(self.clock.now())).unwrap_or_default();
        let now = crate::clock::monotonic_now();
        // Older than the machine's uptime (a restart): the oldest instant we can name, which
        // still orders it before every caller who entered since.
        [age, Duration::from_secs(3600), Duration::from_secs(60)]
            .into_iter()
            .find_map(|a| now.checked_sub(a))
            .unwrap_or(now)
    }

    fn export_gauges(&self) {
        let counts = self.book.counts_by_queue();
        for name in self.queues.keys() {
            let c = counts.get(name).cloned().unwrap_or_default();
            metrics::gauge!(crate::telemetry::CALLBACKS_PENDING, "queue" => name.clone(), "state" => "pending")
                .set(f64::from(c.pending));
            metrics::gauge!(crate::telemetry::CALLBACKS_PENDING, "queue" => name.clone(), "state" => "placing")
                .set(f64::from(c.placing));
        }
    }
}
