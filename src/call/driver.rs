//! One task per call (a driver): it owns the call's [`CallCore`] and media legs (the
//! caller's, and an operator's while one is rung or bridged), feeds it SIP events from the
//! endpoint, media events from the legs, timers and shutdown, and performs the actions it
//! returns: SIP through the endpoint, media commands, facts published on the call event
//! stream. It decides nothing about SIP, the IVR, dialling or media itself.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::acd::actor::{AcdRequest, QueueSignal};
use crate::acd::phrases;
use crate::call::core::{CallAction, CallCore, HangupCause, MediaCommand, CALLER_LEG};
use crate::call::dial::{trunk_target, DialTarget};
use crate::call::events::{self, CallFact, EventBus, LegId};
use crate::call::presence::{Presence, PresenceGuard};
use crate::clock::{monotonic_now as now, sleep_until, Clock};
use crate::media::dtmf::{Digit, DigitSource};
use crate::media::engine::{LegCommand, LegHandle, MediaEngine};
use crate::media::leg::LegEvent;
use crate::media::prompt::PromptLibrary;
use crate::media::rtcp::LegQuality;
use crate::registrar::Location;
use crate::sip::uac::OutboundEvent;

/// What the endpoint tells a call.
#[derive(Debug)]
pub enum CallEvent {
    /// ACK for our 2xx, with its body (the SDP answer when we offered).
    Ack(Option<String>),
    Cancel,
    Bye,
    ReInvite(Option<String>),
    /// An UPDATE (RFC 3311) with its body, if any.
    Update(Option<String>),
    /// The session timer (RFC 4028) ran out.
    SessionExpired,
    /// A digit from a SIP INFO.
    InfoDigit(Digit),
    /// Our BYE got its final response, or its transaction timed out.
    ByeCompleted,
    /// Our 2xx was never acknowledged (64·T1).
    AckTimeout,
    /// Something happened on one of this call's operator legs.
    Operator {
        leg: LegId,
        /// Boxed: it is the largest event, and every call's channel holds 32 slots of the
        /// largest (docs/BENCHMARKS.md, memory per call).
        event: Box<OutboundEvent>,
    },
    /// The operator's phone sent a re-INVITE (hold, resume…) with this body.
    OperatorReinvite {
        leg: LegId,
        body: Option<String>,
    },
    /// The operator's ACK to our 200 for their re-INVITE, with its body.
    OperatorAck {
        leg: LegId,
        body: Option<String>,
    },
    /// Our 200 to the operator's re-INVITE was never acknowledged.
    OperatorAckTimeout {
        leg: LegId,
    },
    /// The ACD about this caller's place in a queue.
    Queue(crate::acd::actor::QueueSignal),
}

/// What a call asks of the endpoint. `call` identifies the dialog.
#[derive(Debug)]
pub enum EndpointCommand {
    /// Respond to the initial INVITE.
    RespondInvite {
        call: u64,
        status: u16,
        sdp: Option<String>,
    },
    /// Respond to the pending UPDATE.
    RespondUpdate {
        call: u64,
        status: u16,
        sdp: Option<String>,
    },
    /// Respond to the pending re-INVITE.
    RespondReinvite {
        call: u64,
        status: u16,
        sdp: Option<String>,
    },
    SendBye {
        call: u64,
    },
    /// Ring a contact on a new outbound leg of `call`.
    PlaceLeg {
        call: u64,
        leg: LegId,
        target: DialTarget,
        sdp: String,
        /// Who is calling, for the operator's display.
        caller: String,
        /// A queue's offer: the queue and the wait so far, for the display too.
        queue: Option<crate::call::core::QueueOffer>,
        /// The display name to show instead of the caller's (a callback's "callback
        /// <number> <queue>"); the From user stays `caller`.
        display: Option<String>,
    },
    CancelLeg {
        call: u64,
        leg: LegId,
    },
    /// Open a call with no inbound dialog (a callback: both legs are ours). The endpoint
    /// replies with its id and delivers its legs' events to `events`, as it does an inbound
    /// call's operator legs'.
    OpenHeadless {
        events: mpsc::Sender<CallEvent>,
        reply: tokio::sync::oneshot::Sender<u64>,
    },
    /// Forget a headless call; any of its legs still ringing is cancelled, any answered one
    /// hung up.
    CloseHeadless {
        call: u64,
    },
    /// Answer the operator's pending re-INVITE on `leg`.
    RespondOperatorReinvite {
        call: u64,
        leg: LegId,
        status: u16,
        sdp: Option<String>,
    },
    ByeLeg {
        call: u64,
        leg: LegId,
    },
    /// NOTIFY the operator's phone on `leg` of its transfer's progress (sipfrag `status`).
    NotifyLeg {
        call: u64,
        leg: LegId,
        status: u16,
    },
    Ended {
        call: u64,
        cause: HangupCause,
    },
    /// The registrar's verdict on an INVITE from a softphone to an extension: the caller's
    /// extension, or the response to send (401 challenge, 403, 503).
    InviteAuthenticated {
        key: crate::sip::transaction::TxKey,
        result: Result<String, crate::sip::message::Message>,
    },
    /// A feature-code call's agent change is done: say `prompt` (held under `key`).
    FeatureReady {
        key: crate::sip::transaction::TxKey,
        prompt: &'static str,
    },
    /// The final response to a non-INVITE request whose server transaction the endpoint
    /// holds open under `key` (REGISTER, answered by the registrar).
    RespondRequest {
        key: crate::sip::transaction::TxKey,
        response: crate::sip::message::Message,
    },
}

pub struct CallTask {
    pub id: u64,
    pub core: CallCore,
    pub leg: LegHandle,
    pub events: mpsc::Receiver<CallEvent>,
    /// This call's own event sender, for the ACD to reach it (weak: the endpoint's is the
    /// one that keeps the channel open).
    pub notify: mpsc::WeakSender<CallEvent>,
    pub endpoint: mpsc::Sender<EndpointCommand>,
    pub prompts: Arc<PromptLibrary>,
    pub language: String,
    pub stop: CancellationToken,
    pub links: CallLinks,
    /// The caller's number, for the operator's display.
    pub caller: String,
    /// The SIP Call-ID of the caller's dialog (a callback request records it).
    pub call_id: String,
    /// An authenticated softphone's extension: busy for other callers while this call lasts.
    pub caller_extension: Option<Arc<str>>,
}

/// What a call reaches beyond itself: the event bus, where extensions are, who is busy,
/// the media engine for operator legs, the wall clock for event times.
#[derive(Clone)]
pub struct CallLinks {
    /// The ACD task, when queues are configured.
    pub acd: Option<crate::acd::actor::AcdHandle>,
    /// Queue announcements use the paid wording.
    pub acd_paid: bool,
    pub bus: EventBus,
    pub location: Location,
    pub presence: Presence,
    pub media: MediaEngine,
    pub clock: Arc<dyn Clock>,
    /// The configured trunks, for a flow's dial that names one.
    pub trunks: Arc<[crate::config::TrunkConfig]>,
    /// The callback service, when a queue offers callbacks.
    pub callbacks: Option<crate::callback::service::CallbackHandle>,
}

/// The operator side's media leg and the extension it reaches; `parked` is the leg of an
/// operator whose transfer runs (kept, unbridged, until it succeeds or fails).
#[derive(Default)]
struct OperatorMedia {
    leg: Option<LegHandle>,
    /// The operator leg (in the call core's numbering) whose media this is, once started.
    leg_id: Option<LegId>,
    extension: Option<Arc<str>>,
    busy: Option<PresenceGuard>,
    /// The ACD was told this extension is busy with a call that is not the queue's.
    acd_busy: Option<Arc<str>>,
    parked: Option<Box<OperatorMedia>>,
}

/// The next event of an optional media leg (pending forever when there is none).
async fn recv_opt(leg: Option<&mut LegHandle>) -> Option<LegEvent> {
    match leg {
        Some(l) => match l.events.recv().await {
            Some(ev) => Some(ev),
            None => std::future::pending().await, // closed: nothing more will come
        },
        None => std::future::pending().await,
    }
}

/// Close a media leg and wait (briefly) for its quality report.
async fn finish(leg: &mut LegHandle) -> Option<LegQuality> {
    tokio::time::timeout(std::time::Duration::from_millis(200), leg.finish())
        .await
        .ok()
        .flatten()
}

impl CallTask {
    pub async fn run(mut self) {
        let mut stopping = false;
        let mut operator = OperatorMedia::default();
        let caller_extension = self.caller_extension.take();
        if let Some(ext) = &caller_extension {
            Box::pin(self.busy_elsewhere(ext, true)).await;
        }
        let _caller_busy = caller_extension
            .clone()
            .map(|ext| self.links.presence.enter(ext));
        loop {
            while let Some(action) = self.core.poll_action() {
                // Boxed: performing an action awaits the endpoint and the media engine, and
                // inlined those futures would make every call's resident task state as large
                // as the largest of them (docs/BENCHMARKS.md, memory per call).
                if let Some(cause) = Box::pin(self.perform(action, &mut operator)).await {
                    info!(end = cause.fact().0.label(), "call ended");
                    if let Some(ext) = &caller_extension {
                        Box::pin(self.busy_elsewhere(ext, false)).await;
                    }
                    let ended = EndpointCommand::Ended {
                        call: self.id,
                        cause,
                    };
                    let _ = Box::pin(self.endpoint.send(ended)).await;
                    return;
                }
            }
            // Boxed for the same reason as `perform`: the select's futures live on the heap
            // only while the call waits, not in every call's task.
            if !Box::pin(self.next_event(&mut operator, &mut stopping)).await {
                return;
            }
        }
    }

    /// Wait for the next event and hand it to the core; `false` when the endpoint is gone.
    async fn next_event(&mut self, operator: &mut OperatorMedia, stopping: &mut bool) -> bool {
        let deadline = self.core.poll_timeout();
        tokio::select! {
            ev = self.events.recv() => match ev {
                Some(CallEvent::Ack(body)) => self.core.handle_ack(now(), body.as_deref()),
                Some(CallEvent::Cancel) => self.core.handle_cancel(),
                Some(CallEvent::Bye) => self.core.handle_bye(),
                Some(CallEvent::ReInvite(body)) => self.core.handle_reinvite(now(), body.as_deref()),
                Some(CallEvent::Update(body)) => self.core.handle_update(now(), body.as_deref()),
                Some(CallEvent::SessionExpired) => {
                    info!("session timer expired: nobody refreshed the session");
                    self.core.handle_session_expired()
                }
                Some(CallEvent::InfoDigit(d)) => {
                    debug!(digit = %d, "digit by SIP INFO");
                    self.core.handle_digit(now(), d, DigitSource::Info)
                }
                Some(CallEvent::ByeCompleted) => self.core.handle_bye_completed(),
                Some(CallEvent::AckTimeout) => self.core.handle_ack_timeout(),
                Some(CallEvent::Operator { leg, event }) => self.core.handle_operator(now(), leg, *event),
                Some(CallEvent::OperatorReinvite { leg, body }) => self.core.handle_operator_reinvite(now(), leg, body.as_deref()),
                Some(CallEvent::OperatorAck { leg, body }) => self.core.handle_operator_ack(now(), leg, body.as_deref()),
                Some(CallEvent::OperatorAckTimeout { leg }) => self.core.handle_operator_ack_timeout(now(), leg),
                Some(CallEvent::Queue(signal)) => self.queue_signal(signal),
                None => {
                    // The endpoint is gone (shutdown): nothing more can be signalled.
                    return false;
                }
            },
            ev = self.leg.events.recv() => match ev {
                Some(LegEvent::PromptDone(id)) => self.core.handle_prompt_done(now(), id),
                Some(LegEvent::Digit(d, source)) => {
                    debug!(digit = %d, source = source.label(), "digit");
                    self.core.handle_digit(now(), d, source)
                }
                Some(LegEvent::RtpTimeout) => {
                    warn!("no RTP from the caller; ending the call");
                    self.core.handle_media_timeout()
                }
                // Sent only as a leg closes (LegHandle::close); not used here yet.
                Some(LegEvent::Quality(_)) | None => {}
            },
            ev = recv_opt(operator.leg.as_mut()) => {
                if let Some(LegEvent::RtpTimeout) = ev {
                    warn!("no RTP from the operator; ending the operator's leg");
                    self.core.handle_operator_media_timeout(now());
                }
            },
            _ = sleep_until(deadline) => self.core.handle_timeout(now()),
            _ = self.stop.cancelled(), if !*stopping => {
                *stopping = true;
                self.core.shut_down();
            }
        }
        true
    }

    /// Perform one action; `Some(cause)` when the call is over.
    async fn perform(
        &mut self,
        action: CallAction,
        operator: &mut OperatorMedia,
    ) -> Option<HangupCause> {
        let call = self.id;
        let command = match action {
            CallAction::Dial { extension } => {
                self.dial(extension, operator);
                return None;
            }
            CallAction::DialTrunk { trunk, number } => {
                self.dial_trunk(trunk, &number, operator);
                return None;
            }
            CallAction::PlaceLeg {
                leg,
                target,
                sdp,
                queue,
            } => EndpointCommand::PlaceLeg {
                queue,
                call,
                leg,
                target,
                sdp,
                caller: self.caller.clone(),
                display: None,
            },
            CallAction::CancelLeg(leg) => EndpointCommand::CancelLeg { call, leg },
            CallAction::AnswerOperatorReinvite { leg, status, sdp } => {
                EndpointCommand::RespondOperatorReinvite {
                    call,
                    leg,
                    status,
                    sdp,
                }
            }
            CallAction::ByeLeg(leg) => EndpointCommand::ByeLeg { call, leg },
            CallAction::NotifyLeg { leg, status } => {
                EndpointCommand::NotifyLeg { call, leg, status }
            }
            CallAction::EnterQueue { queue, priority } => {
                match (&self.links.acd, self.notify.upgrade()) {
                    (Some(acd), Some(notify)) => {
                        acd.send(AcdRequest::Enter {
                            queue,
                            priority,
                            call,
                            notify,
                        })
                        .await
                    }
                    _ => {
                        warn!(queue = %queue, "a flow enters a queue but no queue is configured");
                        self.core
                            .handle_queue_overflow(now(), crate::acd::OverflowReason::NoAgents);
                    }
                }
                return None;
            }
            CallAction::Announce { entry } => {
                self.announce(entry).await;
                return None;
            }
            CallAction::QueueAnswered { entry, agent } => {
                self.to_acd(AcdRequest::Answered { entry, agent }).await;
                return None;
            }
            CallAction::QueueOfferFailed {
                entry,
                agent,
                failure,
            } => {
                self.to_acd(AcdRequest::OfferFailed {
                    entry,
                    agent,
                    failure,
                })
                .await;
                return None;
            }
            CallAction::QueueLeft { entry } => {
                self.to_acd(AcdRequest::Left { entry }).await;
                return None;
            }
            CallAction::QueueLeftForCallback { entry } => {
                self.to_acd(AcdRequest::LeftForCallback { entry }).await;
                return None;
            }
            CallAction::CallbackServed { queue } => {
                if let Some(service) = &self.links.callbacks {
                    service.served(&self.caller, &queue).await;
                }
                return None;
            }
            CallAction::RequestCallback {
                queue,
                number,
                when,
                waited,
                priority,
            } => {
                let booking = match &self.links.callbacks {
                    Some(service) => {
                        let entered_at = crate::clock::before(self.links.clock.now(), waited);
                        service
                            .book(crate::callback::service::BookRequest {
                                queue,
                                number,
                                entered_at,
                                priority,
                                when,
                                call_id: self.call_id.clone(),
                            })
                            .await
                    }
                    // (The core offers callbacks only for queues the service serves.)
                    None => crate::call::callback_offer::Booking::DoNotContact,
                };
                self.core.handle_callback_booked(now(), booking);
                return None;
            }
            CallAction::QueueCallEnded { agent } => {
                self.to_acd(AcdRequest::CallEnded { agent }).await;
                return None;
            }
            CallAction::Publish(fact) => {
                if matches!(fact, CallFact::Ended { .. }) {
                    // The caller's media quality comes before the end, for subscribers that
                    // close their record on `Ended`.
                    let quality = finish(&mut self.leg).await;
                    self.publish_quality(CALLER_LEG, quality);
                }
                self.publish(fact);
                return None;
            }
            CallAction::Ring => EndpointCommand::RespondInvite {
                call,
                status: 180,
                sdp: None,
            },
            CallAction::Answer { sdp } => EndpointCommand::RespondInvite {
                call,
                status: 200,
                sdp: Some(sdp),
            },
            CallAction::Reject { status } => EndpointCommand::RespondInvite {
                call,
                status,
                sdp: None,
            },
            CallAction::Terminated => EndpointCommand::RespondInvite {
                call,
                status: 487,
                sdp: None,
            },
            CallAction::AnswerReinvite { sdp } => EndpointCommand::RespondReinvite {
                call,
                status: 200,
                sdp: Some(sdp),
            },
            CallAction::AnswerUpdate { status, sdp } => {
                EndpointCommand::RespondUpdate { call, status, sdp }
            }
            CallAction::RejectReinvite { status } => EndpointCommand::RespondReinvite {
                call,
                status,
                sdp: None,
            },
            CallAction::SendBye => EndpointCommand::SendBye { call },
            CallAction::Media(cmd) => {
                self.media(cmd, operator).await;
                return None;
            }
            CallAction::Ended(cause) => return Some(cause),
        };
        let _ = self.endpoint.send(command).await;
        None
    }

    /// Resolve a dial: the extension's contacts, whether it is in a call, an operator media
    /// leg on the caller's worker. The core decides what follows.
    fn dial(&mut self, extension: Arc<str>, operator: &mut OperatorMedia) {
        let links = &self.links;
        let targets = links
            .location
            .lookup(&extension, links.clock.now())
            .into_iter()
            .map(|b| DialTarget {
                extension: extension.to_string(),
                contact: b.contact,
                reach: b.reach,
                trunk: None,
            })
            .collect();
        let busy = links.presence.is_busy(&extension);
        let port = self.operator_leg(operator);
        operator.extension = Some(extension);
        self.core.handle_dial_targets(now(), targets, busy, port);
    }

    /// A flow's dial through a trunk: the one target is the number, written as the trunk
    /// wants it, at the trunk's proxy. A number the trunk's plan cannot read reaches nobody
    /// (the flow's on_no_answer).
    fn dial_trunk(&mut self, trunk: Arc<str>, number: &str, operator: &mut OperatorMedia) {
        let target = self
            .links
            .trunks
            .iter()
            .find(|t| *t.name == *trunk)
            .and_then(|t| match trunk_target(t, number) {
                Ok(target) => Some(target),
                Err(e) => {
                    warn!(%trunk, number, error = %e, "a number the trunk cannot dial");
                    None
                }
            });
        let port = self.operator_leg(operator);
        self.core
            .handle_dial_targets(now(), target.into_iter().collect(), false, port);
    }

    /// A media leg for the far side of a dial; `None` (logged) when none is free.
    fn operator_leg(&self, operator: &mut OperatorMedia) -> Option<u16> {
        match self.links.media.allocate_leg_near(&self.leg) {
            Ok(h) => {
                let port = h.local_port;
                operator.leg = Some(h);
                Some(port)
            }
            Err(e) => {
                warn!(error = %e, "no media leg for the operator");
                None
            }
        }
    }

    fn publish(&self, fact: CallFact) {
        self.links.bus.publish(events::CallEvent {
            at: self.links.clock.now(),
            call: events::CallId(self.id),
            fact,
        });
    }

    /// Tell the ACD an extension is in (or out of) a call that is not the queue's.
    async fn busy_elsewhere(&self, extension: &str, busy: bool) {
        self.to_acd(AcdRequest::BusyElsewhere {
            extension: extension.to_string(),
            busy,
        })
        .await;
    }

    async fn to_acd(&self, req: AcdRequest) {
        if let Some(acd) = &self.links.acd {
            acd.send(req).await;
        }
    }

    fn queue_signal(&mut self, signal: QueueSignal) {
        match signal {
            QueueSignal::Entered { entry } => self.core.handle_queue_entered(now(), entry),
            QueueSignal::Offer { agent, extension } => {
                self.core.handle_queue_offer(agent, extension)
            }
            QueueSignal::CancelOffer { agent } => self.core.handle_queue_cancel_offer(agent),
            QueueSignal::Overflow { reason } => self.core.handle_queue_overflow(now(), reason),
        }
    }

    /// An announcement is due: the caller's position and estimated wait from the ACD, said
    /// in the call's language.
    async fn announce(&mut self, entry: crate::acd::EntryId) {
        let Some(acd) = &self.links.acd else {
            return;
        };
        let Some((position, ewt)) = acd.status(entry).await else {
            return;
        };
        let lang = phrases::Lang::from_code(&self.language);
        let prompts = phrases::announcement_told(lang, position, ewt, self.links.acd_paid)
            .into_iter()
            .map(Arc::from)
            .collect();
        self.core.handle_announcement(now(), position, ewt, prompts);
    }

    /// Publish a released media leg's quality (nothing for a leg that never started).
    fn publish_quality(&self, leg: LegId, quality: Option<LegQuality>) {
        let Some(q) = quality else {
            return;
        };
        self.publish(CallFact::LegQuality {
            leg,
            packets_received: q.packets_received,
            packets_lost: q.packets_lost,
            fraction_lost: q.fraction_lost,
            jitter_ms: q.jitter_ms,
            round_trip_ms: q.round_trip_ms,
        });
    }

    /// Close an operator media leg, publishing its quality.
    async fn release(&self, media: OperatorMedia) {
        if let Some(ext) = &media.acd_busy {
            self.busy_elsewhere(ext, false).await;
        }
        if let (Some(mut handle), Some(leg)) = (media.leg, media.leg_id) {
            let quality = finish(&mut handle).await;
            self.publish_quality(leg, quality);
        }
    }

    async fn media(&mut self, cmd: MediaCommand, operator: &mut OperatorMedia) {
        let cmd = match cmd {
            MediaCommand::StartOperator {
                leg: id,
                negotiated: n,
            } => {
                operator.leg_id = Some(id);
                if let Some(leg) = &operator.leg {
                    if leg.send(LegCommand::Start(n)).is_err() {
                        warn!("media engine overloaded; command dropped");
                    }
                }
                return;
            }
            MediaCommand::Bridge => {
                let Some(other) = operator.leg.as_ref().map(|l| l.id) else {
                    return;
                };
                if let Some(ext) = &operator.extension {
                    operator.busy = Some(self.links.presence.enter(Arc::clone(ext)));
                    // A flow's plain `dial` (not the queue's offer): busy for every queue.
                    if !self.core.is_queue_call() && operator.acd_busy.is_none() {
                        self.busy_elsewhere(ext, true).await;
                        operator.acd_busy = Some(Arc::clone(ext));
                    }
                }
                LegCommand::Bridge { other }
            }
            MediaCommand::Unbridge => {
                operator.busy = None;
                if let Some(ext) = operator.acd_busy.take() {
                    self.busy_elsewhere(&ext, false).await;
                }
                LegCommand::Unbridge
            }
            MediaCommand::ReleaseOperator => {
                // Closing the leg unlinks a bridge.
                let parked = operator.parked.take();
                let released = std::mem::replace(
                    operator,
                    OperatorMedia {
                        parked,
                        ..OperatorMedia::default()
                    },
                );
                self.release(released).await;
                return;
            }
            MediaCommand::ParkOperator => {
                // The caller's music on hold unlinks the bridge; the operator's leg stays.
                let current = std::mem::take(operator);
                operator.parked = Some(Box::new(current));
                LegCommand::MusicOnHold {
                    class: super::core::default_moh(),
                }
            }
            MediaCommand::UnparkOperator => {
                if let Some(parked) = operator.parked.take() {
                    let released = std::mem::replace(operator, *parked);
                    self.release(released).await;
                }
                return;
            }
            MediaCommand::ReleaseParked => {
                if let Some(parked) = operator.parked.take() {
                    self.release(*parked).await;
                }
                return;
            }
            MediaCommand::MusicOnHold { class } => LegCommand::MusicOnHold { class },
            MediaCommand::HoldCaller => LegCommand::MusicOnHold {
                class: super::core::default_moh(),
            },
            MediaCommand::ResumeBridge => {
                let Some(other) = operator.leg.as_ref().map(|l| l.id) else {
                    return;
                };
                LegCommand::Bridge { other }
            }
            MediaCommand::UpdateOperator(n) => {
                if let Some(leg) = &operator.leg {
                    if leg.send(LegCommand::Update(n)).is_err() {
                        warn!("media engine overloaded; command dropped");
                    }
                }
                return;
            }
            MediaCommand::Start(n) => LegCommand::Start(n),
            MediaCommand::Update(n) => LegCommand::Update(n),
            MediaCommand::StopPlayback => LegCommand::Stop,
            MediaCommand::Play { id, prompts } => LegCommand::Play {
                id,
                prompts: self.prompts.resolve(&self.language, &prompts),
            },
        };
        if self.leg.send(cmd).is_err() {
            warn!("media engine overloaded; command dropped");
        }
    }
}
