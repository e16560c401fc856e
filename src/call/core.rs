//! One call's decisions, sans-IO: ringing, answering with an SDP answer (or our offer), the
//! IVR session, hold/resume, DTMF, ringing an operator's contacts and bridging the caller to
//! the one who answers, who hangs up and why, and every fact for the call event stream.
//!
//! A call owns legs: leg 0 is the caller's inbound dialog; a flow's `dial` node adds
//! outbound legs (one per registered contact, see [`crate::call::dial`]), of which one may
//! be bridged. **Who ends what**: the caller's BYE ends the call and every other leg; the
//! operator's BYE ends only the operator's leg, and the caller goes on to the dial node's
//! `next` in the flow.
//!
//! Inputs are dialog-level events the SIP driver has already matched to this call (the
//! INVITE's offer, ACK, CANCEL, BYE, re-INVITE, INFO digits, responses to our BYE, what
//! happened on an operator leg) and media events (prompt finished, digit heard). Outputs
//! are [`CallAction`]s: respond to the INVITE, send BYE, place/cancel/hang up an operator
//! leg, command the media legs, publish a [`CallFact`]. SIP message building, transactions
//! and 2xx retransmission live in the SIP layer; sockets and prompt files in the drivers.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::acd::{AgentId, EntryId, OfferFailure};
use crate::call::dial::{DialTarget, Fork, ForkAction};
use crate::call::events::{CallFact, EndCause, LegId, Side};
use crate::call::routing;
use crate::ivr::{DialResult, Flow, FlowEnd, IvrAction, IvrSession, PlayId};
use crate::media::dtmf::{Digit, DigitSource};
use crate::sdp::{self, Negotiated, SdpError};
use crate::sip::refer::ReferTo;
use crate::sip::uac::{OutboundEvent, Outcome};

/// The caller's inbound leg.
pub const CALLER_LEG: LegId = LegId(0);

/// Who or what ended the call (STYLE.md §5: the abandoned-call KPIs depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// The caller sent BYE.
    Caller,
    /// The caller cancelled before we answered.
    CallerCancelled,
    /// The IVR flow ended and we sent BYE.
    Flow(FlowEnd),
    /// No ACK for our 2xx (RFC 3261 §13.3.1.4).
    AckTimeout,
    /// No RTP from the caller for the configured time.
    RtpTimeout,
    /// The offer had no codec we support (488).
    NoCommonCodec,
    /// A session timer (RFC 4028) ran out: nobody refreshed the session.
    SessionExpired,
    /// The server is shutting down.
    Shutdown,
    /// The caller booked a callback; we said goodbye and sent BYE.
    CallbackBooked,
}

impl HangupCause {
    /// The cause and side as the call event stream states them.
    pub fn fact(self) -> (EndCause, Side) {
        match self {
            HangupCause::Caller => (EndCause::CallerHungUp, Side::Caller),
            HangupCause::CallerCancelled => (EndCause::CallerCancelled, Side::Caller),
            HangupCause::Flow(FlowEnd::Completed) => (EndCause::FlowCompleted, Side::System),
            HangupCause::Flow(FlowEnd::MenuFailed) => (EndCause::MenuFailed, Side::System),
            HangupCause::AckTimeout => (EndCause::AckTimeout, Side::System),
            HangupCause::RtpTimeout => (EndCause::RtpTimeout, Side::System),
            HangupCause::NoCommonCodec => (EndCause::NoCommonCodec, Side::System),
            HangupCause::SessionExpired => (EndCause::SessionExpired, Side::System),
            HangupCause::Shutdown => (EndCause::Shutdown, Side::System),
            HangupCause::CallbackBooked => (EndCause::CallbackBooked, Side::System),
        }
    }
}

/// What the media leg must do. Prompts are names; the driver resolves them for the
/// call's language.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    Start(Negotiated),
    /// Renegotiated (hold, resume, new address or codec).
    Update(Negotiated),
    Play {
        id: PlayId,
        prompts: Vec<Arc<str>>,
    },
    StopPlayback,
    /// Loop music on hold of class `class` on the caller's leg (while an operator's phone
    /// rings, or waiting in a queue: that queue's class). The media engine plays the
    /// default class for a class it does not have.
    MusicOnHold {
        class: Arc<str>,
    },
    /// Start the operator's media leg (for operator leg `leg`) with the answer the
    /// operator's phone gave.
    StartOperator {
        leg: LegId,
        negotiated: Negotiated,
    },
    /// Relay audio between the caller's and the operator's legs.
    Bridge,
    /// Stop relaying; the caller's leg plays what comes next.
    Unbridge,
    /// The operator's media leg is no longer needed.
    ReleaseOperator,
    /// The operator's phone renegotiated (hold, resume, new address).
    UpdateOperator(Negotiated),
    /// The operator holds: stop relaying, the caller hears music on hold of the default
    /// class (the operator stays in the call, and busy).
    HoldCaller,
    /// The operator resumed: relay again.
    ResumeBridge,
    /// The operator asked for a transfer: their media leg is set aside (unbridged, kept),
    /// the caller hears music on hold of the default class; the next dial gets a new
    /// operator media leg.
    ParkOperator,
    /// The transfer failed while the operator is still there: their set-aside leg becomes
    /// the operator's media leg again (any other is released).
    UnparkOperator,
    /// The set-aside leg is no longer needed (the transfer succeeded or they hung up).
    ReleaseParked,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CallAction {
    /// 180 Ringing.
    Ring,
    /// 200 OK to the INVITE with this SDP (our answer, or our offer when theirs was absent).
    Answer {
        sdp: String,
    },
    /// A final error to the INVITE (488 when no codec matches).
    Reject {
        status: u16,
    },
    /// 487 Request Terminated to the INVITE (after CANCEL).
    Terminated,
    /// 200 OK to a re-INVITE with this SDP, or an error status.
    AnswerReinvite {
        sdp: String,
    },
    RejectReinvite {
        status: u16,
    },
    /// The final response to the caller's pending UPDATE (RFC 3311), with our SDP answer
    /// when it carried an offer.
    AnswerUpdate {
        status: u16,
        sdp: Option<String>,
    },
    SendBye,
    /// Find the extension's registered contacts and whether it is busy, allocate an
    /// operator media leg, and report with [`CallCore::handle_dial_targets`].
    Dial {
        extension: Arc<str>,
    },
    /// Dial `number` through `trunk` (a flow's dial node that names one): allocate an
    /// operator media leg and report the trunk's target with
    /// [`CallCore::handle_dial_targets`].
    DialTrunk {
        trunk: Arc<str>,
        number: Arc<str>,
    },
    /// Place an outbound INVITE with this SDP offer on a new leg; `queue`: it is a queue's
    /// offer (the operator's phone shows the queue and the wait so far).
    PlaceLeg {
        leg: LegId,
        target: DialTarget,
        sdp: String,
        queue: Option<QueueOffer>,
    },
    /// Answer the operator's pending re-INVITE (200 with our SDP answer, or an error).
    AnswerOperatorReinvite {
        leg: LegId,
        status: u16,
        sdp: Option<String>,
    },
    /// CANCEL a ringing operator leg.
    CancelLeg(LegId),
    /// BYE an answered operator leg.
    ByeLeg(LegId),
    /// Ask the ACD to take the caller into this queue (a flow's `queue` node); the answer
    /// comes back as `handle_queue_entered` or `handle_queue_overflow`.
    EnterQueue {
        queue: Arc<str>,
        priority: u8,
    },
    /// An announcement is due: fetch the caller's position and estimated wait, build the
    /// prompts, and call `handle_announcement`.
    Announce {
        entry: EntryId,
    },
    /// Tell the ACD: the agent it offered the caller to answered (the legs are bridged).
    QueueAnswered {
        entry: EntryId,
        agent: AgentId,
    },
    /// Tell the ACD: the offer failed.
    QueueOfferFailed {
        entry: EntryId,
        agent: AgentId,
        failure: OfferFailure,
    },
    /// Tell the ACD: the caller left the queue (hung up, or the call ended).
    QueueLeft {
        entry: EntryId,
    },
    /// Tell the ACD: the caller booked a callback and leaves (the callback keeps the place).
    QueueLeftForCallback {
        entry: EntryId,
    },
    /// The caller was answered by an agent of `queue`: a callback they had pending there is
    /// no longer needed.
    CallbackServed {
        queue: Arc<str>,
    },
    /// Ask the callback service to book this callback; its answer comes back as
    /// [`CallCore::handle_callback_booked`]. `waited`: since the caller entered the queue.
    RequestCallback {
        queue: Arc<str>,
        number: String,
        when: crate::call::callback_offer::Choice,
        waited: Duration,
        priority: u8,
    },
    /// Tell the ACD: the agent's call from the queue ended (wrap-up starts).
    QueueCallEnded {
        agent: AgentId,
    },
    /// Report a transfer's progress or outcome to the operator leg that asked for it
    /// (a NOTIFY with this status as sipfrag; ≥ 200 is the last).
    NotifyLeg {
        leg: LegId,
        status: u16,
    },
    Media(MediaCommand),
    /// A fact for the call event stream (the driver adds the time and the call's id).
    Publish(CallFact),
    /// The call is over; the driver releases everything. Always the last action.
    Ended(HangupCause),
}

/// Static facts the core needs, fixed for the call's life.
#[derive(Clone, Debug)]
pub struct CallSetup {
    pub flow: Arc<Flow>,
    /// Our RTP address for the SDP.
    pub media_ip: IpAddr,
    pub media_port: u16,
    /// Ring this long before answering (0 = answer at once).
    pub answer_after: Duration,
    /// `o=` session id for our SDP.
    pub session_id: u64,
    /// The caller's number (From user) and the number dialled (Request-URI user).
    pub caller: String,
    pub dialled: String,
    /// How long an operator's transfer target rings before the caller goes back.
    pub transfer_ring_timeout: Duration,
    /// Queue numbers (`number` in `[queues.NAME]`) → queue name: a transfer target too.
    pub queue_numbers: Arc<std::collections::BTreeMap<String, Arc<str>>>,
    /// Queue name → its music-on-hold class (`music_on_hold` in `[queues.NAME]`); a queue
    /// not in it plays the default class.
    pub queue_music: Arc<std::collections::BTreeMap<Arc<str>, Arc<str>>>,
    /// Announcements to a caller waiting in a queue, start to start.
    pub announce_every: Duration,
    /// Queue name → its callback offer (`callback_key` in `[queues.NAME]`).
    pub queue_callbacks: Arc<std::collections::BTreeMap<Arc<str>, CallbackKey>>,
    /// The call's language (the callback dialogue reads numbers in it).
    pub language: crate::acd::phrases::Lang,
}

#[derive(Debug)]
enum State {
    /// 180 sent; answer at `answer_at`.
    Ringing {
        answer_at: Instant,
    },
    /// 200 sent, waiting for the ACK (and, if we offered, the answer inside it).
    Answered,
    /// Media flowing, the IVR running.
    Up,
    /// We sent BYE; waiting for its response (or its transaction time-out).
    Leaving(HangupCause),
    Ended,
}

pub struct CallCore {
    setup: CallSetup,
    state: State,
    /// The caller's offer; `None` when the INVITE had none (we offer in the 200).
    offer: Option<String>,
    negotiated: Option<Negotiated>,
    sdp_version: u64,
    /// We offered in the 200 to an offerless re-INVITE: its ACK carries the answer.
    reoffer_pending: bool,
    ivr: Option<IvrSession>,
    /// The node last published, so each entry is published once.
    ivr_node: Option<String>,
    operator: Operator,
    /// The next free leg number (0 is the caller's).
    next_leg: u64,
    /// A blind transfer the bridged operator asked for, while its target rings.
    transfer: Option<Transfer>,
    /// The priority the caller entered a queue with (kept when transferred to another).
    queue_priority: u8,
    /// We offered in our 200 to the operator's offerless re-INVITE: their ACK answers.
    operator_reoffer: bool,
    /// Waiting in a queue (a flow's `queue` node).
    queue: Option<queue_wait::QueueWait>,
    /// The agent the queue connected the caller to, while that call lasts.
    queue_agent: Option<AgentId>,
    out: VecDeque<CallAction>,
}

/// A blind transfer (REFER from the operator's phone, RFC 3515): the operator's leg is set
/// aside, unbridged, while the target rings; the caller hears music on hold. The target
/// answers → bridged to the caller, the operator's leg ends. The target fails → back to the
/// operator (or, if they have hung up meanwhile, on in the flow).
#[derive(Debug)]
struct Transfer {
    /// The operator's leg that sent the REFER, and its dial.
    from: LegId,
    fork: Fork,
    media_port: u16,
    held: bool,
    /// The operator hung up during the transfer.
    gone: bool,
    /// Stop ringing the target at.
    give_up_at: Instant,
}

/// The operator side of the call.
#[derive(Debug, Default)]
enum Operator {
    #[default]
    None,
    /// Ringing the contacts of a `dial` node; `media_port` is the operator leg's RTP port.
    Dialing { fork: Fork, media_port: u16 },
    /// Bridged to `leg`; the fork stays to hang up late answers.
    Connected {
        fork: Fork,
        leg: LegId,
        media_port: u16,
        /// The operator's phone holds (re-INVITE sendonly/inactive): the caller hears music.
        held: bool,
    },
    /// The dial was given up (ring time-out) or lost; legs still ending are hung up.
    Abandoned { fork: Fork },
}

impl CallCore {
    /// A new INVITE arrived. `offer` is its SDP body, if any.
    pub fn new(now: Instant, setup: CallSetup, offer: Option<String>) -> CallCore {
        let mut core = CallCore {
            state: State::Ringing {
                answer_at: now + setup.answer_after,
            },
            setup,
            offer,
            negotiated: None,
            sdp_version: 1,
            reoffer_pending: false,
            ivr: None,
            ivr_node: None,
            operator: Operator::None,
            next_leg: 1,
            transfer: None,
            queue_priority: 0,
            operator_reoffer: false,
            queue: None,
            queue_agent: None,
            out: VecDeque::new(),
        };
        core.out.push_back(CallAction::Publish(CallFact::Arrived {
            caller: core.setup.caller.clone(),
            dialled: core.setup.dialled.clone(),
        }));
        // Check the offer now: a call we cannot serve is refused before ringing.
        if let Some(offer) = core.offer.clone() {
            match sdp::negotiate(&offer) {
                Ok(n) => core.negotiated = Some(n),
                Err(e) => {
                    tracing::debug!(error = %e, "offer refused");
                    core.out.push_back(CallAction::Reject {
                        status: sdp_status(&e),
                    });
                    core.end(HangupCause::NoCommonCodec);
                    return core;
                }
            }
        }
        if core.setup.answer_after.is_zero() {
            core.answer(now);
        } else {
            core.out.push_back(CallAction::Ring);
        }
        core
    }

    pub fn poll_action(&mut self) -> Option<CallAction> {
        let action = self.out.pop_front();
        if action.is_none() && self.out.capacity() > 0 {
            // Drained: give a burst's room back. A waiting caller's core is idle nearly all
            // the time, and kept, that room was a kilobyte a call (docs/BENCHMARKS.md).
            self.out = VecDeque::new();
        }
        action
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Ringing { answer_at } => Some(*answer_at),
            State::Up => {
                let transfer = self.transfer.as_ref().map(|t| t.give_up_at);
                let queue = self.queue.as_ref().and_then(|q| q.poll_timeout());
                let queue = queue
                    .into_iter()
                    .chain(self.queue_callback_poll_timeout())
                    .min();
                let ivr = self.ivr.as_ref().and_then(IvrSession::poll_timeout);
                ivr.into_iter().chain(transfer).chain(queue).min()
            }
            _ => None,
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Ringing { answer_at } if now >= answer_at => self.answer(now),
            State::Up => {
                if self.transfer.as_ref().is_some_and(|t| now >= t.give_up_at) {
                    self.abandon_dial();
                    self.transfer_failed(now, 480);
                }
                self.queue_timeout(now);
                self.queue_callback_timeout(now);
                if let Some(ivr) = self.ivr.as_mut() {
                    ivr.handle_timeout(now);
                }
                self.drain_ivr();
            }
            _ => {}
        }
    }

    /// The ACK for our 2xx, with the SDP answer when we made the offer.
    pub fn handle_ack(&mut self, now: Instant, body: Option<&str>) {
        if matches!(self.state, State::Up) && self.reoffer_pending {
            self.reoffer_pending = false;
            self.handle_reoffer_answer(body);
            return;
        }
        if !matches!(self.state, State::Answered) {
            return; // a retransmitted ACK
        }
        if self.offer.is_none() {
            let answer = body.map(sdp::parse_answer);
            match answer {
                Some(Ok(n)) => self.negotiated = Some(n),
                _ => {
                    // RFC 3264 §5: we offered, the ACK must answer; without one, end the call.
                    self.leave(HangupCause::NoCommonCodec);
                    return;
                }
            }
        }
        let Some(n) = self.negotiated.clone() else {
            self.leave(HangupCause::NoCommonCodec);
            return;
        };
        self.state = State::Up;
        self.out.push_back(CallAction::Publish(CallFact::Answered));
        self.out
            .push_back(CallAction::Media(MediaCommand::Start(n)));
        self.ivr = Some(IvrSession::new(now, Arc::clone(&self.setup.flow)));
        self.drain_ivr();
    }

    /// The ACK to our 200 for an offerless re-INVITE: its answer moves the media (a new
    /// address, codec or direction). Without a usable answer the session cannot go on
    /// (RFC 3264 §5): we hang up.
    fn handle_reoffer_answer(&mut self, body: Option<&str>) {
        match body.map(sdp::parse_answer) {
            Some(Ok(n)) => {
                self.negotiated = Some(n.clone());
                self.out
                    .push_back(CallAction::Media(MediaCommand::Update(n)));
            }
            _ => self.leave(HangupCause::NoCommonCodec),
        }
    }

    /// CANCEL matched our INVITE server transaction.
    pub fn handle_cancel(&mut self) {
        if matches!(self.state, State::Ringing { .. }) {
            self.out.push_back(CallAction::Terminated);
            self.end(HangupCause::CallerCancelled);
        }
        // Once answered, CANCEL has no effect on the call (RFC 3261 §9.2).
    }

    /// BYE from the caller (the driver answers it 200): the call and every leg end.
    pub fn handle_bye(&mut self) {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_hangup();
        }
        self.end_operator(EndCause::CallerHungUp, Side::Caller);
        match self.state {
            State::Ended => {}
            State::Leaving(cause) => self.end(cause),
            _ => self.end(HangupCause::Caller),
        }
    }

    /// The final response to our BYE, or its transaction time-out: either way we are done.
    pub fn handle_bye_completed(&mut self) {
        if let State::Leaving(cause) = self.state {
            self.end(cause);
        }
    }

    /// No ACK came for our 2xx within 64·T1: end the call (RFC 3261 §13.3.1.4).
    pub fn handle_ack_timeout(&mut self) {
        if matches!(self.state, State::Answered) {
            self.leave(HangupCause::AckTimeout);
        }
    }

    /// The media leg saw no RTP for the configured time.
    pub fn handle_media_timeout(&mut self) {
        if matches!(self.state, State::Up) {
            self.leave(HangupCause::RtpTimeout);
        }
    }

    /// A re-INVITE in the dialog: hold (sendonly/inactive), resume, or a new address.
    pub fn handle_reinvite(&mut self, _now: Instant, body: Option<&str>) {
        if !matches!(self.state, State::Up | State::Answered) {
            self.out
                .push_back(CallAction::RejectReinvite { status: 491 });
            return;
        }
        let Some(body) = body else {
            // An offerless re-INVITE: offer again what we have (RFC 3264 §8.4 allows it);
            // the answer comes in the ACK (RFC 3261 §14.2).
            self.sdp_version += 1;
            let sdp = self.our_offer();
            self.reoffer_pending = matches!(self.state, State::Up);
            self.out.push_back(CallAction::AnswerReinvite { sdp });
            return;
        };
        match self.answer_new_offer(body) {
            Ok((sdp, n)) => {
                self.out.push_back(CallAction::AnswerReinvite { sdp });
                self.out
                    .push_back(CallAction::Media(MediaCommand::Update(n)));
            }
            Err(status) => self.out.push_back(CallAction::RejectReinvite { status }),
        }
    }

    /// The caller's new offer (re-INVITE or UPDATE): our answer and what it negotiates, or
    /// the status refusing it.
    fn answer_new_offer(&mut self, body: &str) -> Result<(String, Negotiated), u16> {
        let n = sdp::negotiate(body).map_err(|e| sdp_status(&e))?;
        self.sdp_version += 1;
        let sdp = self.answer_for(&n);
        self.negotiated = Some(n.clone());
        Ok((sdp, n))
    }

    /// An UPDATE in the dialog (RFC 3311): without a body a session refresh (200), with an
    /// offer a change of media as with a re-INVITE. Before the call is up, or while our
    /// offer waits for its answer, it gets 491/500 (§5.2).
    pub fn handle_update(&mut self, _now: Instant, body: Option<&str>) {
        let Some(body) = body else {
            self.out.push_back(CallAction::AnswerUpdate {
                status: 200,
                sdp: None,
            });
            return;
        };
        if !matches!(self.state, State::Up) {
            // An offer before our answer was acknowledged: a retry later works.
            self.out.push_back(CallAction::AnswerUpdate {
                status: 500,
                sdp: None,
            });
            return;
        }
        if self.reoffer_pending {
            self.out.push_back(CallAction::AnswerUpdate {
                status: 491,
                sdp: None,
            });
            return;
        }
        match self.answer_new_offer(body) {
            Ok((sdp, n)) => {
                self.out.push_back(CallAction::AnswerUpdate {
                    status: 200,
                    sdp: Some(sdp),
                });
                self.out
                    .push_back(CallAction::Media(MediaCommand::Update(n)));
            }
            Err(status) => self
                .out
                .push_back(CallAction::AnswerUpdate { status, sdp: None }),
        }
    }

    /// The session timer ran out (RFC 4028 §10): nobody refreshed the session; hang up.
    pub fn handle_session_expired(&mut self) {
        if matches!(self.state, State::Up | State::Answered) {
            self.leave(HangupCause::SessionExpired);
        }
    }

    /// A digit from RFC 4733, SIP INFO or in-band detection.
    pub fn handle_digit(&mut self, now: Instant, digit: Digit, source: DigitSource) {
        if !matches!(self.state, State::Up) {
            return;
        }
        self.out.push_back(CallAction::Publish(CallFact::Digit {
            digit: digit.as_char(),
            source: source.into(),
        }));
        if self.queue_callback_digit(now, digit.as_char()) {
            return;
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_digit(now, digit);
            self.drain_ivr();
        }
    }

    /// Every prompt of `Play { id }` has been sent.
    pub fn handle_prompt_done(&mut self, now: Instant, id: PlayId) {
        if self.queue_prompt_done(now, id) || self.queue_callback_prompt_done(now, id) {
            return;
        }
        if let (State::Up, Some(ivr)) = (&self.state, self.ivr.as_mut()) {
            ivr.handle_prompt_done(now, id);
            self.drain_ivr();
        }
    }

    /// The server is stopping: refuse a call not yet answered, hang up one that is.
    pub fn shut_down(&mut self) {
        match self.state {
            State::Ringing { .. } => {
                self.out.push_back(CallAction::Reject { status: 503 });
                self.end(HangupCause::Shutdown);
            }
            State::Answered | State::Up => self.leave(HangupCause::Shutdown),
            State::Leaving(_) | State::Ended => {}
        }
    }

    fn answer(&mut self, _now: Instant) {
        let sdp = match &self.negotiated {
            Some(n) => self.answer_for(&n.clone()),
            None => self.our_offer(),
        };
        self.state = State::Answered;
        self.out.push_back(CallAction::Answer { sdp });
    }

    fn answer_for(&self, n: &Negotiated) -> String {
        sdp::build_answer(
            n,
            self.setup.media_ip,
            self.setup.media_port,
            self.setup.session_id,
            self.sdp_version,
        )
    }

    fn our_offer(&self) -> String {
        sdp::build_offer(
            self.setup.media_ip,
            self.setup.media_port,
            self.setup.session_id,
            self.sdp_version,
        )
    }

    fn drain_ivr(&mut self) {
        let Some(ivr) = self.ivr.as_mut() else { return };
        let mut actions = Vec::new();
        while let Some(a) = ivr.poll_action() {
            actions.push(a);
        }
        let node = ivr.current_node().map(str::to_string);
        if node.is_some() && node != self.ivr_node {
            self.out.push_back(CallAction::Publish(CallFact::IvrNode {
                node: node.clone().unwrap_or_default(),
            }));
            self.ivr_node = node;
        }
        for a in actions {
            match a {
                IvrAction::Play { id, prompts, .. } => self
                    .out
                    .push_back(CallAction::Media(MediaCommand::Play { id, prompts })),
                IvrAction::StopPlayback => self
                    .out
                    .push_back(CallAction::Media(MediaCommand::StopPlayback)),
                IvrAction::Dial { extension } => {
                    self.out.push_back(CallAction::Dial { extension });
                }
                IvrAction::DialTrunk { trunk, number } => {
                    self.out.push_back(CallAction::DialTrunk { trunk, number });
                }
                IvrAction::CancelDial => self.abandon_dial(),
                IvrAction::EnterQueue { queue, priority } => self.enter_queue(queue, priority),
                IvrAction::Hangup(end) => self.leave(HangupCause::Flow(end)),
            }
        }
    }

    // ------------------------------------------------------------ operator legs

    /// The answer to `CallAction::Dial`: the extension's contacts, whether it is in a call
    /// already, and the operator media leg's port (`None`: no media port free).
    pub fn handle_dial_targets(
        &mut self,
        now: Instant,
        targets: Vec<DialTarget>,
        busy: bool,
        media_port: Option<u16>,
    ) {
        // A new dial may follow an abandoned or ended one (the flow dials again): the old
        // fork's legs are already cancelled or hung up, and their late answers end in the
        // UAC core (ACK + BYE).
        if !matches!(self.state, State::Up)
            || matches!(
                self.operator,
                Operator::Dialing { .. } | Operator::Connected { .. }
            )
        {
            return;
        }
        let result = match (busy, media_port) {
            (true, _) => Some(DialResult::Busy),
            (false, None) => Some(DialResult::NoAnswer),
            (false, Some(_)) if targets.is_empty() => Some(DialResult::NoAnswer),
            _ => None,
        };
        if let Some(result) = result {
            if media_port.is_some() {
                self.out
                    .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
            }
            self.dial_result(now, result);
            return;
        }
        let media_port = media_port.expect("checked above");
        let fork = Fork::new(targets, self.next_leg);
        self.next_leg += fork.leg_count();
        self.operator = Operator::Dialing { fork, media_port };
        if !self.queue_waiting() {
            // (A queued caller hears music or an announcement already.)
            self.out
                .push_back(CallAction::Media(MediaCommand::MusicOnHold {
                    class: default_moh(),
                }));
        }
        self.drain_fork(now);
    }

    /// Something happened on operator leg `leg`.
    pub fn handle_operator(&mut self, now: Instant, leg: LegId, event: OutboundEvent) {
        if self.transfer.as_ref().is_some_and(|t| t.from == leg) {
            self.handle_transferor(event);
            return;
        }
        let Some(target) = self
            .fork()
            .and_then(|f| f.target(leg))
            .map(|t| t.contact.clone())
        else {
            return;
        };
        match event {
            OutboundEvent::Ringing { .. } => {
                if matches!(self.operator, Operator::Dialing { .. }) {
                    self.out
                        .push_back(CallAction::Publish(CallFact::LegRinging { leg, target }));
                }
            }
            OutboundEvent::Answered { sdp } => {
                let answer = sdp.as_deref().map(sdp::parse_answer);
                match (&mut self.operator, answer) {
                    (Operator::Dialing { fork, .. }, Some(Ok(n))) => {
                        fork.handle_answered(leg);
                        if fork.winner() == Some(leg) {
                            self.out
                                .push_back(CallAction::Media(MediaCommand::StartOperator {
                                    leg,
                                    negotiated: n,
                                }));
                        }
                    }
                    (Operator::Dialing { fork, .. }, _) => {
                        // An answer without a usable SDP answer cannot be bridged.
                        tracing::debug!(
                            leg = leg.0,
                            "operator answered without a usable SDP answer"
                        );
                        self.out.push_back(CallAction::ByeLeg(leg));
                        fork.handle_failed(leg, Outcome::Rejected { status: 488 });
                    }
                    (Operator::Connected { fork, .. } | Operator::Abandoned { fork }, _) => {
                        fork.handle_answered(leg); // a late answer: hung up
                    }
                    (Operator::None, _) => {}
                }
                self.drain_fork(now);
            }
            OutboundEvent::Failed(outcome) => {
                self.out.push_back(CallAction::Publish(CallFact::LegFailed {
                    leg,
                    target,
                    status: outcome.status(),
                    outcome: outcome.label().to_string(),
                }));
                if let Some(fork) = self.fork_mut() {
                    fork.handle_failed(leg, outcome);
                }
                self.drain_fork(now);
            }
            OutboundEvent::RemoteBye => {
                if let Operator::Connected { leg: bridged, .. } = self.operator {
                    if bridged == leg {
                        self.operator_left(now, EndCause::OperatorHungUp, Side::Operator);
                    }
                }
            }
            OutboundEvent::Refer { target } => self.handle_refer(now, leg, target),
            OutboundEvent::ByeDone => {}
        }
    }

    // ------------------------------------------------------------ transfer

    /// The bridged operator's phone sent REFER (already answered 202 with NOTIFY 100): ring
    /// the target while the caller hears music on hold.
    fn handle_refer(&mut self, now: Instant, leg: LegId, target: ReferTo) {
        let refusal = match (&self.operator, &self.state) {
            _ if target.replaces => Some(501), // attended transfer (Replaces): not supported
            (Operator::Connected { leg: bridged, .. }, State::Up) if *bridged == leg => None,
            _ => Some(403),
        };
        if refusal.is_none() {
            let queue = target
                .user
                .as_deref()
                .and_then(|u| self.setup.queue_numbers.get(u))
                .cloned();
            if let Some(queue) = queue {
                self.transfer_to_queue(leg, queue);
                return;
            }
        }
        let extension = target.user.as_deref().and_then(routing::transfer_target);
        let (status, extension) = match (refusal, extension) {
            (Some(status), _) => (status, None),
            (None, None) => (404, None),
            (None, Some(ext)) => (0, Some(ext)),
        };
        let Some(extension) = extension else {
            self.out.push_back(CallAction::NotifyLeg { leg, status });
            return;
        };
        let Operator::Connected {
            fork,
            media_port,
            held,
            ..
        } = std::mem::take(&mut self.operator)
        else {
            return;
        };
        self.transfer = Some(Transfer {
            from: leg,
            fork,
            media_port,
            held,
            gone: false,
            give_up_at: now + self.setup.transfer_ring_timeout,
        });
        self.out
            .push_back(CallAction::Media(MediaCommand::ParkOperator));
        self.publish_transfer_asked(leg, extension.clone());
        self.out.push_back(CallAction::Dial {
            extension: extension.into(),
        });
    }

    /// A blind transfer to a queue's number: the caller goes (back) into that queue keeping
    /// their priority; the operator's leg ends at once (NOTIFY 200: the transfer is done
    /// once the caller is queued).
    fn transfer_to_queue(&mut self, leg: LegId, queue: Arc<str>) {
        let Operator::Connected { fork, .. } = std::mem::take(&mut self.operator) else {
            return;
        };
        self.operator = Operator::Abandoned { fork };
        self.queue_call_ended();
        self.out
            .push_back(CallAction::NotifyLeg { leg, status: 200 });
        self.out.push_back(CallAction::ByeLeg(leg));
        self.out
            .push_back(CallAction::Media(MediaCommand::Unbridge));
        self.out
            .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
        self.publish_transfer_asked(leg, queue.to_string());
        self.out.push_back(CallAction::Publish(CallFact::LegEnded {
            leg,
            cause: EndCause::Transferred,
            side: Side::Operator,
        }));
        self.enter_queue(queue, self.queue_priority);
    }

    /// The operator on `leg` is unbridged from the caller to transfer them to `target`.
    fn publish_transfer_asked(&mut self, leg: LegId, target: String) {
        self.out.push_back(CallAction::Publish(CallFact::Unbridged {
            a: CALLER_LEG,
            b: leg,
        }));
        self.out
            .push_back(CallAction::Publish(CallFact::TransferRequested {
                leg,
                target,
            }));
    }

    /// Something happened on the leg of the operator whose transfer is running.
    fn handle_transferor(&mut self, event: OutboundEvent) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if matches!(event, OutboundEvent::RemoteBye) && !t.gone {
            // A blind transfer: the operator may hang up at once. The transfer goes on.
            t.gone = true;
            let leg = t.from;
            self.out
                .push_back(CallAction::Media(MediaCommand::ReleaseParked));
            self.out.push_back(CallAction::Publish(CallFact::LegEnded {
                leg,
                cause: EndCause::OperatorHungUp,
                side: Side::Operator,
            }));
        }
    }

    /// The target answered: the operator's leg ends (NOTIFY 200, BYE), the caller is
    /// bridged to the target by the caller of this function.
    fn transfer_succeeded(&mut self) {
        self.queue_call_ended();
        if let Some(t) = self.transfer.take() {
            self.end_transferor(&t, 200, EndCause::Transferred, Side::Operator);
        }
    }

    /// The transferring operator's leg ends: the last NOTIFY (`status`), BYE, their
    /// set-aside media released, the fact. Nothing when they have hung up already.
    fn end_transferor(&mut self, t: &Transfer, status: u16, cause: EndCause, side: Side) {
        if t.gone {
            return;
        }
        self.out.push_back(CallAction::NotifyLeg {
            leg: t.from,
            status,
        });
        self.out.push_back(CallAction::ByeLeg(t.from));
        self.out
            .push_back(CallAction::Media(MediaCommand::ReleaseParked));
        self.out.push_back(CallAction::Publish(CallFact::LegEnded {
            leg: t.from,
            cause,
            side,
        }));
    }

    /// The target did not answer, was busy or failed (`status` as the operator's phone
    /// will read it): back to the operator, or on in the flow if they have gone.
    fn transfer_failed(&mut self, now: Instant, status: u16) {
        let Some(t) = self.transfer.take() else {
            return;
        };
        self.out
            .push_back(CallAction::Publish(CallFact::TransferFailed {
                leg: t.from,
                status,
            }));
        if t.gone {
            if let Some(ivr) = self.ivr.as_mut() {
                ivr.handle_operator_hangup(now);
            }
            self.drain_ivr();
            return;
        }
        self.out.push_back(CallAction::NotifyLeg {
            leg: t.from,
            status,
        });
        self.out
            .push_back(CallAction::Media(MediaCommand::UnparkOperator));
        self.operator = Operator::Connected {
            fork: t.fork,
            leg: t.from,
            media_port: t.media_port,
            held: t.held,
        };
        if t.held {
            self.out
                .push_back(CallAction::Media(MediaCommand::HoldCaller));
        } else {
            self.out.push_back(CallAction::Media(MediaCommand::Bridge));
            self.out.push_back(CallAction::Publish(CallFact::Bridged {
                a: CALLER_LEG,
                b: t.from,
            }));
        }
    }

    /// The call ends during a transfer: the operator's set-aside leg ends too (NOTIFY 487:
    /// the transfer will not complete).
    fn end_transfer(&mut self, cause: EndCause, side: Side) {
        if let Some(t) = self.transfer.take() {
            self.end_transferor(&t, 487, cause, side);
        }
    }

    /// A re-INVITE from the operator's phone: hold (sendonly/inactive: the caller hears
    /// music on hold), resume (sendrecv: bridged again), or a new address or codec. `None`
    /// body: an offerless re-INVITE, answered with our offer; its ACK carries the answer
    /// ([`CallCore::handle_operator_ack`]).
    pub fn handle_operator_reinvite(&mut self, _now: Instant, leg: LegId, body: Option<&str>) {
        let Operator::Connected {
            leg: bridged,
            media_port,
            ..
        } = self.operator
        else {
            self.out.push_back(CallAction::AnswerOperatorReinvite {
                leg,
                status: 491,
                sdp: None,
            });
            return;
        };
        if bridged != leg {
            self.out.push_back(CallAction::AnswerOperatorReinvite {
                leg,
                status: 488,
                sdp: None,
            });
            return;
        }
        self.sdp_version += 1;
        let Some(body) = body else {
            // RFC 3264 §8.4 / RFC 3261 §14.2: we offer what we have, the ACK answers.
            let offer = sdp::build_offer(
                self.setup.media_ip,
                media_port,
                self.setup.session_id + leg.0,
                self.sdp_version,
            );
            self.operator_reoffer = true;
            self.out.push_back(CallAction::AnswerOperatorReinvite {
                leg,
                status: 200,
                sdp: Some(offer),
            });
            return;
        };
        let negotiated = match sdp::negotiate(body) {
            Ok(n) => n,
            Err(e) => {
                self.out.push_back(CallAction::AnswerOperatorReinvite {
                    leg,
                    status: sdp_status(&e),
                    sdp: None,
                });
                return;
            }
        };
        let answer = sdp::build_answer(
            &negotiated,
            self.setup.media_ip,
            media_port,
            self.setup.session_id + leg.0,
            self.sdp_version,
        );
        self.out.push_back(CallAction::AnswerOperatorReinvite {
            leg,
            status: 200,
            sdp: Some(answer),
        });
        self.apply_operator_media(leg, negotiated);
    }

    /// The operator's ACK to our 200 for their re-INVITE; after an offerless one it carries
    /// their answer, which moves the operator's media (or, unusable, ends their leg: RFC
    /// 3264 §5 leaves no session to go on with).
    pub fn handle_operator_ack(&mut self, now: Instant, leg: LegId, body: Option<&str>) {
        if !std::mem::take(&mut self.operator_reoffer) {
            return;
        }
        if !matches!(self.operator, Operator::Connected { leg: bridged, .. } if bridged == leg) {
            return;
        }
        match body.map(sdp::parse_answer) {
            Some(Ok(n)) => self.apply_operator_media(leg, n),
            _ => {
                self.out.push_back(CallAction::ByeLeg(leg));
                self.operator_left(now, EndCause::NoCommonCodec, Side::System);
            }
        }
    }

    /// Our 200 to the operator's re-INVITE was never acknowledged (64·T1): their phone is
    /// gone; end their leg, the caller goes on in the flow.
    pub fn handle_operator_ack_timeout(&mut self, now: Instant, leg: LegId) {
        if matches!(self.operator, Operator::Connected { leg: bridged, .. } if bridged == leg) {
            self.operator_reoffer = false;
            self.out.push_back(CallAction::ByeLeg(leg));
            self.operator_left(now, EndCause::AckTimeout, Side::System);
        }
    }

    /// The operator's phone renegotiated: update their media, and hold or resume by the
    /// direction it chose.
    fn apply_operator_media(&mut self, leg: LegId, negotiated: Negotiated) {
        let Operator::Connected { held, .. } = self.operator else {
            return;
        };
        let holds = !negotiated.direction.we_send();
        self.out
            .push_back(CallAction::Media(MediaCommand::UpdateOperator(negotiated)));
        match (holds, held) {
            (true, false) => {
                self.out
                    .push_back(CallAction::Media(MediaCommand::HoldCaller));
                self.out
                    .push_back(CallAction::Publish(CallFact::Held { leg }));
            }
            (false, true) => {
                self.out
                    .push_back(CallAction::Media(MediaCommand::ResumeBridge));
                self.out
                    .push_back(CallAction::Publish(CallFact::Resumed { leg }));
            }
            _ => {}
        }
        if let Operator::Connected { held, .. } = &mut self.operator {
            *held = holds;
        }
    }

    /// The operator's media leg saw no RTP for the configured time: end that leg only.
    pub fn handle_operator_media_timeout(&mut self, now: Instant) {
        if let Operator::Connected { leg, .. } = self.operator {
            self.out.push_back(CallAction::ByeLeg(leg));
            self.operator_left(now, EndCause::RtpTimeout, Side::System);
        }
    }

    fn fork(&self) -> Option<&Fork> {
        match &self.operator {
            Operator::Dialing { fork, .. }
            | Operator::Connected { fork, .. }
            | Operator::Abandoned { fork } => Some(fork),
            Operator::None => None,
        }
    }

    fn fork_mut(&mut self) -> Option<&mut Fork> {
        match &mut self.operator {
            Operator::Dialing { fork, .. }
            | Operator::Connected { fork, .. }
            | Operator::Abandoned { fork } => Some(fork),
            Operator::None => None,
        }
    }

    fn drain_fork(&mut self, now: Instant) {
        let mut actions = Vec::new();
        if let Some(fork) = self.fork_mut() {
            while let Some(a) = fork.poll_action() {
                actions.push(a);
            }
        }
        for a in actions {
            match a {
                ForkAction::Place { leg, target } => {
                    let Operator::Dialing { media_port, .. } = self.operator else {
                        continue;
                    };
                    let sdp = sdp::build_offer(
                        self.setup.media_ip,
                        media_port,
                        self.setup.session_id + leg.0,
                        1,
                    );
                    let queue = self.queue_offer_info(now);
                    self.out.push_back(CallAction::PlaceLeg {
                        leg,
                        target,
                        sdp,
                        queue,
                    });
                }
                ForkAction::Cancel(leg) => self.out.push_back(CallAction::CancelLeg(leg)),
                ForkAction::Bye(leg) => self.out.push_back(CallAction::ByeLeg(leg)),
                ForkAction::Won(leg) => {
                    let Operator::Dialing { fork, media_port } = std::mem::take(&mut self.operator)
                    else {
                        continue;
                    };
                    let target = fork
                        .target(leg)
                        .map(|t| t.contact.clone())
                        .unwrap_or_default();
                    self.operator = Operator::Connected {
                        fork,
                        leg,
                        media_port,
                        held: false,
                    };
                    self.out
                        .push_back(CallAction::Publish(CallFact::LegAnswered { leg, target }));
                    let transferred = self.transfer.is_some();
                    self.transfer_succeeded();
                    self.out.push_back(CallAction::Media(MediaCommand::Bridge));
                    self.out.push_back(CallAction::Publish(CallFact::Bridged {
                        a: CALLER_LEG,
                        b: leg,
                    }));
                    if transferred {
                        continue; // the flow is still where the first operator answered
                    }
                    if self.queue_answered(now) {
                        continue;
                    }
                    if let Some(ivr) = self.ivr.as_mut() {
                        ivr.handle_dial_result(now, DialResult::Answered);
                    }
                    self.drain_ivr();
                }
                ForkAction::Failed(result) => {
                    if let Operator::Dialing { fork, .. } = std::mem::take(&mut self.operator) {
                        self.operator = Operator::Abandoned { fork };
                    }
                    self.out
                        .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
                    self.dial_result(now, result);
                }
            }
        }
    }

    fn dial_result(&mut self, now: Instant, result: DialResult) {
        if self.queue_offer_failed(result) {
            return;
        }
        if self.transfer.is_some() {
            let status = match result {
                DialResult::Busy => 486,
                _ => 480,
            };
            self.transfer_failed(now, status);
            return;
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_dial_result(now, result);
        }
        self.drain_ivr();
    }

    /// The ring time-out ran out: cancel what still rings (the IVR has moved on already).
    fn abandon_dial(&mut self) {
        if let Operator::Dialing { mut fork, .. } = std::mem::take(&mut self.operator) {
            fork.abandon();
            self.operator = Operator::Abandoned { fork };
            self.out
                .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
            let mut cancels = Vec::new();
            if let Some(fork) = self.fork_mut() {
                while let Some(a) = fork.poll_action() {
                    cancels.push(a);
                }
            }
            for a in cancels {
                if let ForkAction::Cancel(leg) = a {
                    self.out.push_back(CallAction::CancelLeg(leg));
                }
            }
        }
    }

    /// The operator's leg ended (they hung up, or their media died): unbridge, and the
    /// caller goes on in the flow.
    fn operator_left(&mut self, now: Instant, cause: EndCause, side: Side) {
        let Operator::Connected { fork, leg, .. } = std::mem::take(&mut self.operator) else {
            return;
        };
        self.operator = Operator::Abandoned { fork };
        self.queue_call_ended();
        self.out
            .push_back(CallAction::Media(MediaCommand::Unbridge));
        self.out
            .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
        self.out.push_back(CallAction::Publish(CallFact::Unbridged {
            a: CALLER_LEG,
            b: leg,
        }));
        self.out
            .push_back(CallAction::Publish(CallFact::LegEnded { leg, cause, side }));
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_operator_hangup(now);
        }
        self.drain_ivr();
    }

    /// The call ends: cancel ringing operator legs, hang up the bridged one (and an
    /// operator whose transfer was running).
    fn end_operator(&mut self, cause: EndCause, side: Side) {
        self.queue_caller_gone();
        self.end_transfer(cause, side);
        match std::mem::take(&mut self.operator) {
            Operator::Dialing { mut fork, .. } => {
                fork.abandon();
                while let Some(a) = fork.poll_action() {
                    if let ForkAction::Cancel(leg) = a {
                        self.out.push_back(CallAction::CancelLeg(leg));
                    }
                }
                self.out
                    .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
            }
            Operator::Connected { leg, .. } => {
                self.out
                    .push_back(CallAction::Media(MediaCommand::Unbridge));
                self.out.push_back(CallAction::Publish(CallFact::Unbridged {
                    a: CALLER_LEG,
                    b: leg,
                }));
                self.out.push_back(CallAction::ByeLeg(leg));
                self.out
                    .push_back(CallAction::Media(MediaCommand::ReleaseOperator));
                self.out
                    .push_back(CallAction::Publish(CallFact::LegEnded { leg, cause, side }));
            }
            Operator::Abandoned { .. } | Operator::None => {}
        }
    }

    /// We end an established call: BYE, then wait for its outcome.
    fn leave(&mut self, cause: HangupCause) {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_hangup();
        }
        let (end, side) = cause.fact();
        self.end_operator(end, side);
        self.out
            .push_back(CallAction::Media(MediaCommand::StopPlayback));
        self.out.push_back(CallAction::SendBye);
        self.state = State::Leaving(cause);
    }

    fn end(&mut self, cause: HangupCause) {
        self.state = State::Ended;
        let (cause_fact, side) = cause.fact();
        self.out.push_back(CallAction::Publish(CallFact::Ended {
            cause: cause_fact,
            side,
        }));
        self.out.push_back(CallAction::Ended(cause));
    }
}

fn sdp_status(e: &SdpError) -> u16 {
    match e {
        SdpError::NoCommonCodec => 488,
        _ => 400,
    }
}

/// The music-on-hold class of a caller who is not waiting in a queue (a dial node ringing,
/// an operator's hold, a transfer).
pub(super) fn default_moh() -> Arc<str> {
    Arc::from(crate::media::prompt::DEFAULT_MOH_CLASS)
}

#[path = "queue_wait.rs"]
mod queue_wait;
pub use queue_wait::QueueOffer;
#[path = "queue_callback.rs"]
mod queue_callback;
pub use queue_callback::CallbackKey;

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
