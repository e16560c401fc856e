//! One inbound call's decisions, sans-IO: ringing, answering with an SDP answer (or our
//! offer), the IVR session, hold/resume, DTMF, who hangs up and why.
//!
//! Inputs are dialog-level events the SIP driver has already matched to this call (the
//! INVITE's offer, ACK, CANCEL, BYE, re-INVITE, INFO digits, responses to our BYE) and
//! media events (prompt finished, digit heard). Outputs are [`CallAction`]s: respond to
//! the INVITE, send BYE, command the media leg. SIP message building, transactions and 2xx
//! retransmission live in the SIP layer; sockets and prompts files in the drivers.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ivr::{Flow, FlowEnd, IvrAction, IvrSession, PlayId};
use crate::media::dtmf::Digit;
use crate::sdp::{self, Negotiated, SdpError};

/// Who or what ended the call (STYLE.md §5: the abandoned-call KPIs depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// The caller sent BYE.
    Caller,
    /// The caller cancelled before we answered.
    CallerCancelled,
    /// The IVR flow ended and we sent BYE.
    Flow(FlowEnd),
    /// No ACK for our 2xx (RFC 3261 §13.3.1.4), or no RTP for too long.
    Timeout,
    /// The offer had no codec we support (488).
    NoCommonCodec,
    /// The server is shutting down.
    Shutdown,
}

impl HangupCause {
    /// Label for the `qonyrau_calls_total{end}` metric.
    pub fn label(self) -> &'static str {
        match self {
            HangupCause::Caller => "caller",
            HangupCause::CallerCancelled => "caller_cancelled",
            HangupCause::Flow(FlowEnd::Completed) => "flow_completed",
            HangupCause::Flow(FlowEnd::MenuFailed) => "flow_menu_failed",
            HangupCause::Timeout => "timeout",
            HangupCause::NoCommonCodec => "no_common_codec",
            HangupCause::Shutdown => "shutdown",
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
    SendBye,
    Media(MediaCommand),
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
    ivr: Option<IvrSession>,
    out: VecDeque<CallAction>,
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
            ivr: None,
            out: VecDeque::new(),
        };
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
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Ringing { answer_at } => Some(*answer_at),
            State::Up => self.ivr.as_ref().and_then(IvrSession::poll_timeout),
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
        self.out
            .push_back(CallAction::Media(MediaCommand::Start(n)));
        self.ivr = Some(IvrSession::new(now, Arc::clone(&self.setup.flow)));
        self.drain_ivr();
    }

    /// CANCEL matched our INVITE server transaction.
    pub fn handle_cancel(&mut self) {
        if matches!(self.state, State::Ringing { .. }) {
            self.out.push_back(CallAction::Terminated);
            self.end(HangupCause::CallerCancelled);
        }
        // Once answered, CANCEL has no effect on the call (RFC 3261 §9.2).
    }

    /// BYE from the caller (the driver answers it 200).
    pub fn handle_bye(&mut self) {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_hangup();
        }
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
            self.leave(HangupCause::Timeout);
        }
    }

    /// The media leg saw no RTP for the configured time.
    pub fn handle_media_timeout(&mut self) {
        if matches!(self.state, State::Up) {
            self.leave(HangupCause::Timeout);
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
            // An offerless re-INVITE: offer again what we have (RFC 3264 §8.4 allows it).
            self.sdp_version += 1;
            let sdp = self.our_offer();
            self.out.push_back(CallAction::AnswerReinvite { sdp });
            return;
        };
        match sdp::negotiate(body) {
            Ok(n) => {
                self.sdp_version += 1;
                let sdp = self.answer_for(&n);
                self.negotiated = Some(n.clone());
                self.out.push_back(CallAction::AnswerReinvite { sdp });
                self.out
                    .push_back(CallAction::Media(MediaCommand::Update(n)));
            }
            Err(e) => self.out.push_back(CallAction::RejectReinvite {
                status: sdp_status(&e),
            }),
        }
    }

    /// A digit from RFC 4733, SIP INFO or in-band detection.
    pub fn handle_digit(&mut self, now: Instant, digit: Digit) {
        if let (State::Up, Some(ivr)) = (&self.state, self.ivr.as_mut()) {
            ivr.handle_digit(now, digit);
            self.drain_ivr();
        }
    }

    /// Every prompt of `Play { id }` has been sent.
    pub fn handle_prompt_done(&mut self, now: Instant, id: PlayId) {
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
        for a in actions {
            match a {
                IvrAction::Play { id, prompts, .. } => self
                    .out
                    .push_back(CallAction::Media(MediaCommand::Play { id, prompts })),
                IvrAction::StopPlayback => self
                    .out
                    .push_back(CallAction::Media(MediaCommand::StopPlayback)),
                IvrAction::Hangup(end) => self.leave(HangupCause::Flow(end)),
            }
        }
    }

    /// We end an established call: BYE, then wait for its outcome.
    fn leave(&mut self, cause: HangupCause) {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_hangup();
        }
        self.out
            .push_back(CallAction::Media(MediaCommand::StopPlayback));
        self.out.push_back(CallAction::SendBye);
        self.state = State::Leaving(cause);
    }

    fn end(&mut self, cause: HangupCause) {
        self.state = State::Ended;
        self.out.push_back(CallAction::Ended(cause));
    }
}

fn sdp_status(e: &SdpError) -> u16 {
    match e {
        SdpError::NoCommonCodec => 488,
        _ => 400,
    }
}
