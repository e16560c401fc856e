//! The ACD task (a driver): owns the [`Acd`] router and one [`Ewt`] estimator per queue,
//! takes requests from call tasks (a caller enters, an offer was answered or failed, the
//! caller left, the agent's call ended) and from agents (log in, out, pause), runs the
//! router's timers, and carries out what the router decides: offers and cancellations go
//! to the waiting caller's call task, facts to the call event stream, agent activity to the
//! log and metrics. It decides nothing itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use super::ewt::{self, Ewt, EwtConfig};
use super::{
    Acd, AcdAction, AgentConfig, AgentId, AgentState, EntryId, EntryKind, OfferFailure,
    OverflowReason, QueueConfig, QueueFact, QueueId,
};
use crate::call::driver::CallEvent;
use crate::call::events::{self, CallFact, EventBus};
use crate::clock::{monotonic_now as now, sleep_until, Clock};

/// What the ACD tells a waiting caller's call task.
#[derive(Debug)]
pub enum QueueSignal {
    /// Taken in: announcements may start.
    Entered { entry: EntryId },
    /// Ring this agent's extension for the caller.
    Offer { agent: AgentId, extension: Arc<str> },
    /// Stop ringing that agent (the ring time-out, or the offer was given up).
    CancelOffer { agent: AgentId },
    /// The queue refused the caller or gave up on them.
    Overflow { reason: OverflowReason },
}

/// What an agent asks for (feature codes, the REST API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentChange {
    LogIn,
    LogOut,
    /// Pause, or unpause when paused.
    TogglePause(String),
    /// Pause with this reason (the API).
    Pause(String),
    /// Back from a pause (the API).
    Resume,
}

impl AgentChange {
    /// The change that takes an agent now in state `current` to the state `wanted` (both
    /// as the API names them): `available` logs in or ends a pause, `paused` pauses with
    /// `reason`, `logged_out` logs out. `None`: not a state one can ask for.
    pub fn to_reach(wanted: &str, current: &str, reason: String) -> Option<AgentChange> {
        match (wanted, current) {
            ("available", "paused") => Some(AgentChange::Resume),
            ("available", _) => Some(AgentChange::LogIn),
            ("paused", _) => Some(AgentChange::Pause(reason)),
            ("logged_out", _) => Some(AgentChange::LogOut),
            _ => None,
        }
    }
}

/// Live state, for the REST API.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct AcdSnapshot {
    pub queues: Vec<QueueView>,
    pub agents: Vec<AgentView>,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct QueueView {
    pub name: String,
    /// Callers waiting (those being offered included).
    pub waiting: u32,
    /// Callers whose offer rings an agent now.
    pub offered: u32,
    /// The longest wait now, in seconds.
    pub longest_wait_s: f64,
    /// The estimated wait of a caller joining now, in seconds (absent: nobody serving).
    pub ewt_s: Option<f64>,
    pub agents_logged_in: u32,
    pub agents_available: u32,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub extension: String,
    /// logged_out, available, ringing, on_call, wrap_up, paused.
    pub state: String,
    /// The pause reason, when paused.
    pub reason: Option<String>,
    /// In a call that is not the queue's (a direct call, a feature code).
    pub busy_elsewhere: bool,
    pub answered_since_login: u32,
}

/// Requests to the ACD task.
#[derive(Debug)]
pub enum AcdRequest {
    Enter {
        queue: Arc<str>,
        priority: u8,
        call: u64,
        notify: mpsc::Sender<CallEvent>,
    },
    /// A callback keeps a place in `queue` from `entered` (its caller's entry time): the
    /// ACD reserves an agent for it at the head (`QueueSignal::Offer` to `notify`).
    EnterCallback {
        queue: Arc<str>,
        priority: u8,
        entered: Instant,
        notify: mpsc::Sender<CallEvent>,
    },
    /// The caller's position and estimated wait (seconds), for an announcement.
    Status {
        entry: EntryId,
        reply: oneshot::Sender<Option<(u32, Option<f64>)>>,
    },
    Answered {
        entry: EntryId,
        agent: AgentId,
    },
    OfferFailed {
        entry: EntryId,
        agent: AgentId,
        failure: OfferFailure,
    },
    Left {
        entry: EntryId,
    },
    /// The caller booked a callback and leaves the line: their place is kept by the
    /// callback's own entry (counted as `callback`, not abandoned).
    LeftForCallback {
        entry: EntryId,
    },
    CallEnded {
        agent: AgentId,
    },
    /// An extension is in a call that is not the queue's (a call it placed, a flow's
    /// `dial`, a feature code), or no longer: busy for every queue meanwhile.
    BusyElsewhere {
        extension: String,
        busy: bool,
    },
    Agent {
        extension: String,
        change: AgentChange,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Snapshot {
        reply: oneshot::Sender<AcdSnapshot>,
    },
}

/// A queue as the ACD task is set up with it.
#[derive(Clone, Debug)]
pub struct QueueSetup {
    pub config: QueueConfig,
    /// Member extensions.
    pub members: Vec<String>,
}

/// How call tasks and the API reach the ACD task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AcdHandle {
    tx: mpsc::Sender<AcdRequest>,
}

impl AcdHandle {
    pub async fn send(&self, req: AcdRequest) {
        if self.tx.send(req).await.is_err() {
            debug!("the ACD task is gone");
        }
    }

    /// Position and estimated wait of a waiting entry.
    pub async fn status(&self, entry: EntryId) -> Option<(u32, Option<f64>)> {
        let (reply, rx) = oneshot::channel();
        self.send(AcdRequest::Status { entry, reply }).await;
        rx.await.ok().flatten()
    }

    /// Queues and agents now.
    pub async fn snapshot(&self) -> AcdSnapshot {
        let (reply, rx) = oneshot::channel();
        self.send(AcdRequest::Snapshot { reply }).await;
        rx.await.unwrap_or_default()
    }

    /// Change an agent's state; `Ok` names the new state.
    pub async fn agent(&self, extension: &str, change: AgentChange) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.send(AcdRequest::Agent {
            extension: extension.to_string(),
            change,
            reply,
        })
        .await;
        rx.await
            .unwrap_or_else(|_| Err("the ACD is not running".into()))
    }
}

struct Waiting {
    call: u64,
    queue: QueueId,
    notify: mpsc::Sender<CallEvent>,
    /// The first estimate the caller was told (seconds), to score it when answered.
    first_ewt: Option<f64>,
}

pub struct AcdTask {
    acd: Acd,
    ewt: HashMap<QueueId, Ewt>,
    /// Which queue an agent's current call came from (for the estimator).
    serving: HashMap<AgentId, QueueId>,
    waiting: HashMap<EntryId, Waiting>,
    /// Callers leaving because they booked a callback (their leaving is no abandon).
    for_callback: std::collections::HashSet<EntryId>,
    bus: EventBus,
    clock: Arc<dyn Clock>,
    /// The agent activity log (SQL), when there is a database.
    log: Option<super::activity::ActivityLog>,
    epoch: Instant,
    rx: mpsc::Receiver<AcdRequest>,
}

impl AcdTask {
    /// The task and its handle. Agents are the queues' members (logged out at start).
    pub fn new(
        settings: super::AcdSettings,
        queues: Vec<QueueSetup>,
        skills: &HashMap<String, BTreeMap<String, u8>>,
        bus: EventBus,
        clock: Arc<dyn Clock>,
    ) -> (AcdTask, AcdHandle) {
        let (tx, rx) = mpsc::channel(4096);
        // Queue names, agents' extensions and their ids are the router's; only the
        // estimators are kept beside it.
        let mut acd = Acd::new(settings);
        let mut ewt = HashMap::new();
        let mut membership: BTreeMap<String, BTreeSet<QueueId>> = BTreeMap::new();
        for q in queues {
            let wrap_up = q.config.wrap_up.as_secs_f64();
            let id = acd.add_queue(q.config);
            ewt.insert(
                id,
                Ewt::new(EwtConfig {
                    wrap_up,
                    ..EwtConfig::default()
                }),
            );
            for m in q.members {
                membership.entry(m).or_default().insert(id);
            }
        }
        for (extension, queues) in membership {
            acd.add_agent(AgentConfig {
                login: extension.clone(),
                skills: skills.get(&extension).cloned().unwrap_or_default(),
                extension,
                queues,
            });
        }
        let task = AcdTask {
            acd,
            ewt,
            serving: HashMap::new(),
            waiting: HashMap::new(),
            for_callback: std::collections::HashSet::new(),
            bus,
            clock,
            log: None,
            epoch: now(),
            rx,
        };
        (task, AcdHandle { tx })
    }

    /// Write every agent activity to this log.
    pub fn with_log(mut self, log: super::activity::ActivityLog) -> AcdTask {
        self.log = Some(log);
        self
    }

    pub async fn run(mut self) {
        let mut gauges = tokio::time::interval(std::time::Duration::from_secs(1));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.drain().await;
            let deadline = self.acd.poll_timeout();
            tokio::select! {
                req = self.rx.recv() => match req {
                    Some(req) => self.handle(req).await,
                    None => return,
                },
                _ = sleep_until(deadline) => self.acd.handle_timeout(now()),
                _ = gauges.tick() => self.export_gauges(),
            }
        }
    }

    /// Live state on `/metrics`: per queue the callers waiting, the longest wait and the
    /// estimate for the next caller; agents by state. Labels are bounded: queue names and
    /// state names, never callers.
    fn export_gauges(&self) {
        let at = now();
        for q in self.acd.queue_ids() {
            let name = self.name(q);
            let Some(status) = self.acd.queue_status(at, q) else {
                continue;
            };
            metrics::gauge!(crate::telemetry::QUEUE_WAITING, "queue" => name.clone())
                .set(status.waiting as f64);
            metrics::gauge!(crate::telemetry::QUEUE_LONGEST_WAIT, "queue" => name.clone())
                .set(status.longest_wait.map(|d| d.as_secs_f64()).unwrap_or(0.0));
            let ewt = self
                .ewt
                .get(&q)
                .and_then(|e| e.estimate(self.t(at), status.waiting as usize + 1));
            metrics::gauge!(crate::telemetry::QUEUE_EWT, "queue" => name).set(ewt.unwrap_or(-1.0));
        }
        let mut by_state: HashMap<&'static str, usize> = HashMap::new();
        for a in self.acd.agents() {
            *by_state.entry(state_label(a.state)).or_default() += 1;
        }
        for state in [
            "logged_out",
            "available",
            "ringing",
            "on_call",
            "wrap_up",
            "paused",
        ] {
            let n = by_state.get(state).copied().unwrap_or(0);
            metrics::gauge!(crate::telemetry::AGENTS, "state" => state).set(n as f64);
        }
    }

    fn snapshot(&self, at: Instant) -> AcdSnapshot {
        let mut queues = Vec::new();
        for q in self.acd.queue_ids() {
            let Some(st) = self.acd.queue_status(at, q) else {
                continue;
            };
            let ewt = self
                .ewt
                .get(&q)
                .and_then(|e| e.estimate(self.t(at), st.waiting as usize + 1));
            queues.push(QueueView {
                name: self.name(q),
                waiting: st.waiting,
                offered: st.offered,
                longest_wait_s: st.longest_wait.map(|d| d.as_secs_f64()).unwrap_or(0.0),
                ewt_s: ewt,
                agents_logged_in: st.logged_in_agents,
                agents_available: st.available_agents,
            });
        }
        let agents = self
            .acd
            .agents()
            .map(|a| AgentView {
                extension: a.extension.to_string(),
                state: state_label(a.state).to_string(),
                reason: match a.state {
                    AgentState::Paused {
                        reason: super::PauseReason::Requested(r),
                    } => Some(r.clone()),
                    AgentState::Paused { .. } => Some("missed offers".into()),
                    _ => None,
                },
                busy_elsewhere: a.busy_elsewhere,
                answered_since_login: a.answered_since_login,
            })
            .collect();
        AcdSnapshot { queues, agents }
    }

    fn t(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.epoch).as_secs_f64()
    }

    fn feed(&mut self, queue: QueueId, at: Instant, ev: ewt::QueueEvent) {
        let t = self.t(at);
        if let Some(e) = self.ewt.get_mut(&queue) {
            e.handle(t, &ev);
        }
    }

    /// An agent's log-in, log-out and readiness, for the estimators of the queues it serves
    /// (an agent of another queue frees nobody here).
    fn feed_agent(&mut self, at: Instant, agent: AgentId, ev: ewt::QueueEvent) {
        let t = self.t(at);
        for q in self.acd.queues_served_by(agent) {
            if let Some(e) = self.ewt.get_mut(&q) {
                e.handle(t, &ev);
            }
        }
    }

    async fn handle(&mut self, req: AcdRequest) {
        let at = now();
        match req {
            AcdRequest::Enter {
                queue,
                priority,
                call,
                notify,
            } => {
                let Some(q) = self.acd.queue_id(&queue) else {
                    tracing::warn!(queue = %queue, "a flow names a queue that is not configured");
                    let _ = notify
                        .send(CallEvent::Queue(QueueSignal::Overflow {
                            reason: OverflowReason::NoAgents,
                        }))
                        .await;
                    return;
                };
                match self.acd.enqueue(at, q, priority, EntryKind::Caller) {
                    Ok(entry) => {
                        self.waiting.insert(
                            entry,
                            Waiting {
                                call,
                                queue: q,
                                notify: notify.clone(),
                                first_ewt: None,
                            },
                        );
                        self.feed(
                            q,
                            at,
                            ewt::QueueEvent::Enter {
                                caller: ewt::CallerId(entry.0),
                            },
                        );
                        let _ = notify
                            .send(CallEvent::Queue(QueueSignal::Entered { entry }))
                            .await;
                    }
                    Err(e) => debug!(error = %e, "enqueue refused"),
                }
            }
            AcdRequest::EnterCallback {
                queue,
                priority,
                entered,
                notify,
            } => {
                let Some(q) = self.acd.queue_id(&queue) else {
                    tracing::warn!(queue = %queue, "a callback names a queue that is not configured");
                    return;
                };
                match self
                    .acd
                    .enqueue_entered(at, entered, q, priority, EntryKind::Callback)
                {
                    Ok(entry) => {
                        self.waiting.insert(
                            entry,
                            Waiting {
                                call: 0,
                                queue: q,
                                notify: notify.clone(),
                                first_ewt: None,
                            },
                        );
                        // It will take an agent like a caller: the estimate counts it.
                        self.feed(
                            q,
                            at,
                            ewt::QueueEvent::Enter {
                                caller: ewt::CallerId(entry.0),
                            },
                        );
                        let _ = notify
                            .send(CallEvent::Queue(QueueSignal::Entered { entry }))
                            .await;
                    }
                    Err(e) => debug!(error = %e, "callback enqueue refused"),
                }
            }
            AcdRequest::Status { entry, reply } => {
                let status = self.acd.position(entry).map(|position| {
                    let queue = self.waiting.get(&entry).map(|w| w.queue);
                    let ewt = queue
                        .and_then(|q| self.ewt.get(&q))
                        .and_then(|e| e.estimate(self.t(at), position as usize));
                    (position, ewt)
                });
                if let (Some((_, Some(ewt))), Some(w)) = (status, self.waiting.get_mut(&entry)) {
                    w.first_ewt.get_or_insert(ewt);
                }
                let _ = reply.send(status);
            }
            AcdRequest::Answered { entry, agent } => {
                if let Err(e) = self.acd.offer_answered(at, entry, agent) {
                    debug!(error = %e, "late answer");
                }
            }
            AcdRequest::OfferFailed {
                entry,
                agent,
                failure,
            } => {
                if let Err(e) = self.acd.offer_failed(at, entry, agent, failure) {
                    debug!(error = %e, "offer failure for an offer the router gave up");
                }
            }
            AcdRequest::Left { entry } => {
                let _ = self.acd.entry_left(at, entry);
            }
            AcdRequest::LeftForCallback { entry } => {
                self.for_callback.insert(entry);
                if self.acd.entry_left(at, entry).is_err() {
                    self.for_callback.remove(&entry);
                }
            }
            AcdRequest::CallEnded { agent } => {
                let _ = self.acd.call_ended(at, agent);
                if let Some(q) = self.serving.remove(&agent) {
                    self.feed(
                        q,
                        at,
                        ewt::QueueEvent::Hangup {
                            agent: ewt::AgentId(agent.0),
                        },
                    );
                }
            }
            AcdRequest::BusyElsewhere { extension, busy } => {
                if let Some(agent) = self.acd.agent_id(&extension) {
                    let _ = self.acd.set_busy_elsewhere(at, agent, busy);
                }
            }
            AcdRequest::Agent {
                extension,
                change,
                reply,
            } => {
                let result = self.agent_change(at, &extension, change);
                let _ = reply.send(result);
            }
            AcdRequest::Snapshot { reply } => {
                let _ = reply.send(self.snapshot(at));
            }
        }
    }

    fn agent_change(
        &mut self,
        at: Instant,
        extension: &str,
        change: AgentChange,
    ) -> Result<String, String> {
        let Some(agent) = self.acd.agent_id(extension) else {
            return Err(format!(
                "extension {extension} is not a member of any queue"
            ));
        };
        let paused = matches!(
            self.acd.agent(agent).map(|a| a.state.clone()),
            Some(AgentState::Paused { .. })
        );
        let result = match change {
            AgentChange::LogIn => self.acd.log_in(at, agent),
            AgentChange::LogOut => self.acd.log_out(at, agent),
            AgentChange::TogglePause(_) if paused => self.acd.resume(at, agent),
            AgentChange::TogglePause(reason) | AgentChange::Pause(reason) => {
                self.acd.pause(at, agent, reason)
            }
            AgentChange::Resume => self.acd.resume(at, agent),
        };
        result.map_err(|e| e.to_string())?;
        Ok(self
            .acd
            .agent(agent)
            .map(|a| state_label(a.state).to_string())
            .unwrap_or_default())
    }

    async fn drain(&mut self) {
        while let Some(action) = self.acd.poll_action() {
            self.perform(action).await;
        }
    }

    async fn perform(&mut self, action: AcdAction) {
        let at = now();
        match action {
            AcdAction::Offer { entry, agent } | AcdAction::ReserveForCallback { entry, agent } => {
                let Some(extension) = self.extension(agent) else {
                    return;
                };
                self.signal(entry, QueueSignal::Offer { agent, extension })
                    .await;
            }
            AcdAction::CancelOffer { entry, agent } => {
                self.signal(entry, QueueSignal::CancelOffer { agent }).await;
            }
            AcdAction::Connect { entry, agent } => {
                if let Some(w) = self.waiting.remove(&entry) {
                    if let (Some(told), Some(e)) = (w.first_ewt, self.acd.entry(entry)) {
                        // The first estimate told against the wait the caller really had.
                        let waited = at.saturating_duration_since(e.entered).as_secs_f64();
                        metrics::histogram!(crate::telemetry::EWT_ERROR, "queue" => self.name(w.queue))
                            .record(told - waited);
                    }
                    self.serving.insert(agent, w.queue);
                    self.feed(
                        w.queue,
                        at,
                        ewt::QueueEvent::Answer {
                            caller: ewt::CallerId(entry.0),
                            agent: ewt::AgentId(agent.0),
                        },
                    );
                }
            }
            AcdAction::Overflow { entry, reason } => {
                if let Some(w) = self.waiting.remove(&entry) {
                    self.feed(
                        w.queue,
                        at,
                        ewt::QueueEvent::Abandon {
                            caller: ewt::CallerId(entry.0),
                        },
                    );
                    let _ = w
                        .notify
                        .send(CallEvent::Queue(QueueSignal::Overflow { reason }))
                        .await;
                }
            }
            AcdAction::Fact(fact) => self.publish(fact),
            AcdAction::Activity(a) => {
                let to = state_label(&a.to);
                let extension = self.extension(a.agent).unwrap_or_default();
                info!(agent = %extension, from = state_label(&a.from), to, reason = ?a.reason, "agent state");
                metrics::counter!(crate::telemetry::AGENT_STATE_CHANGES, "to" => to).increment(1);
                if let Some(log) = &self.log {
                    log.record(super::activity::ActivityLine {
                        at: self.clock.now(),
                        extension: extension.to_string(),
                        from: state_label(&a.from).to_string(),
                        to: to.to_string(),
                        reason: activity_reason(&a.reason, &a.to),
                    });
                }
                let ev = match (&a.from, &a.to) {
                    (AgentState::LoggedOut, _) => Some(ewt::QueueEvent::Login {
                        agent: ewt::AgentId(a.agent.0),
                    }),
                    (_, AgentState::LoggedOut) => Some(ewt::QueueEvent::Logout {
                        agent: ewt::AgentId(a.agent.0),
                    }),
                    (AgentState::WrapUp { .. }, AgentState::Available) => {
                        Some(ewt::QueueEvent::Ready {
                            agent: ewt::AgentId(a.agent.0),
                        })
                    }
                    _ => None,
                };
                if let Some(ev) = ev {
                    self.feed_agent(at, a.agent, ev);
                }
            }
        }
    }

    async fn signal(&self, entry: EntryId, signal: QueueSignal) {
        if let Some(w) = self.waiting.get(&entry) {
            let _ = w.notify.send(CallEvent::Queue(signal)).await;
        }
    }

    fn publish(&mut self, fact: QueueFact) {
        match &fact {
            QueueFact::Answered { queue, .. } => {
                metrics::counter!(crate::telemetry::QUEUE_CALLS, "queue" => self.name(*queue), "outcome" => "answered").increment(1);
            }
            QueueFact::Abandoned { queue, entry, .. } => {
                let outcome = if self.for_callback.contains(entry) {
                    "callback"
                } else {
                    "abandoned"
                };
                metrics::counter!(crate::telemetry::QUEUE_CALLS, "queue" => self.name(*queue), "outcome" => outcome).increment(1);
            }
            QueueFact::Overflowed { queue, .. } => {
                metrics::counter!(crate::telemetry::QUEUE_CALLS, "queue" => self.name(*queue), "outcome" => "overflowed").increment(1);
            }
            _ => {}
        }
        let (entry, fact) = match fact {
            QueueFact::Entered {
                entry,
                queue,
                position,
            } => (
                entry,
                CallFact::QueueEntered {
                    queue: self.name(queue),
                    position,
                },
            ),
            QueueFact::Abandoned {
                entry,
                queue,
                position,
                waited,
                ..
            } => {
                if let Some(w) = self.waiting.get(&entry) {
                    let q = w.queue;
                    self.feed(
                        q,
                        now(),
                        ewt::QueueEvent::Abandon {
                            caller: ewt::CallerId(entry.0),
                        },
                    );
                }
                let fact = if self.for_callback.remove(&entry) {
                    CallFact::QueueCallbackBooked {
                        queue: self.name(queue),
                        position,
                        waited_s: waited.as_secs_f64(),
                    }
                } else {
                    CallFact::QueueAbandoned {
                        queue: self.name(queue),
                        position,
                        waited_s: waited.as_secs_f64(),
                    }
                };
                (entry, fact)
            }
            QueueFact::Overflowed {
                entry,
                queue,
                reason,
                ..
            } => (
                entry,
                CallFact::QueueOverflowed {
                    queue: self.name(queue),
                    reason: format!("{reason:?}").to_lowercase(),
                },
            ),
            _ => return,
        };
        let Some(call) = self.waiting.get(&entry).map(|w| w.call) else {
            return;
        };
        if matches!(
            fact,
            CallFact::QueueAbandoned { .. } | CallFact::QueueCallbackBooked { .. }
        ) {
            self.waiting.remove(&entry);
        }
        self.bus.publish(events::CallEvent {
            at: self.clock.now(),
            call: events::CallId(call),
            fact,
        });
    }

    fn name(&self, queue: QueueId) -> String {
        self.acd
            .queue_config(queue)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    fn extension(&self, agent: AgentId) -> Option<Arc<str>> {
        self.acd.agent(agent).map(|a| Arc::from(a.extension))
    }
}

/// Why an agent's state changed, as the activity log says it.
fn activity_reason(reason: &super::ActivityReason, to: &AgentState) -> String {
    use super::ActivityReason as R;
    match reason {
        R::LogIn => "login".into(),
        R::LogOut => "logout".into(),
        R::LogOutAfterCall => "logout after the call".into(),
        R::PauseAfterCall => "pause after the call".into(),
        R::Pause => match to {
            AgentState::Paused {
                reason: super::PauseReason::Requested(r),
            } => format!("pause: {r}"),
            _ => "pause: missed offers".into(),
        },
        R::Resume => "resume".into(),
        R::OfferFailed {
            failure,
            missed_in_row,
            ..
        } => format!("missed offer ({failure:?}, {missed_in_row} in a row)").to_lowercase(),
        other => format!("{other:?}")
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_lowercase(),
    }
}

/// The state as the API and metrics name it.
pub fn state_label(state: &AgentState) -> &'static str {
    match state {
        AgentState::LoggedOut => "logged_out",
        AgentState::Available => "available",
        AgentState::Ringing { .. } | AgentState::Reserved { .. } => "ringing",
        AgentState::OnCall { .. } => "on_call",
        AgentState::WrapUp { .. } => "wrap_up",
        AgentState::RetryDelay { .. } => "available",
        AgentState::Paused { .. } => "paused",
    }
}
