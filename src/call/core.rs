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

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::path::Path;

    const FLOW: &str = "start: hello\nnodes:\n  hello: { play: welcome, next: menu }\n  menu:\n    menu: { prompt: menu, options: { \"1\": bye }, timeout: 5s, retries: 0, on_failure: bye }\n  bye: { hangup: true }\n";
    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

    fn setup(answer_after: Duration) -> CallSetup {
        CallSetup {
            flow: Arc::new(Flow::parse(Path::new("t.yaml"), FLOW).unwrap()),
            media_ip: IpAddr::from([127, 0, 0, 1]),
            media_port: 20000,
            answer_after,
            session_id: 1,
        }
    }

    fn drain(c: &mut CallCore) -> Vec<CallAction> {
        std::iter::from_fn(|| c.poll_action()).collect()
    }

    fn play_id(actions: &[CallAction]) -> PlayId {
        actions
            .iter()
            .find_map(|a| match a {
                CallAction::Media(MediaCommand::Play { id, .. }) => Some(*id),
                _ => None,
            })
            .expect("a play")
    }

    #[test]
    fn an_offer_is_answered_at_once_and_the_ivr_starts_on_ack() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
        let a = drain(&mut c);
        assert!(
            matches!(&a[..], [CallAction::Answer { sdp }] if sdp.contains("m=audio 20000 RTP/AVP 0 101"))
        );
        c.handle_ack(t0, None);
        let a = drain(&mut c);
        assert!(matches!(a[0], CallAction::Media(MediaCommand::Start(_))));
        assert!(
            matches!(&a[1], CallAction::Media(MediaCommand::Play { prompts, .. }) if &*prompts[0] == "welcome")
        );
    }

    #[test]
    fn no_common_codec_is_488_and_the_call_ends() {
        let offer = OFFER.replace("RTP/AVP 0 101", "RTP/AVP 18");
        let mut c = CallCore::new(Instant::now(), setup(Duration::ZERO), Some(offer));
        assert_eq!(
            drain(&mut c),
            [
                CallAction::Reject { status: 488 },
                CallAction::Ended(HangupCause::NoCommonCodec)
            ]
        );
    }

    #[test]
    fn without_an_offer_we_offer_in_the_200_and_take_the_answer_from_the_ack() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::ZERO), None);
        let a = drain(&mut c);
        assert!(matches!(&a[..], [CallAction::Answer { sdp }] if sdp.contains("RTP/AVP 0 8 101")));
        c.handle_ack(t0, Some(OFFER));
        assert!(matches!(
            drain(&mut c)[0],
            CallAction::Media(MediaCommand::Start(_))
        ));
        let mut c = CallCore::new(t0, setup(Duration::ZERO), None);
        drain(&mut c);
        c.handle_ack(t0, None);
        let a = drain(&mut c);
        assert!(
            a.contains(&CallAction::SendBye),
            "an ACK without the answer ends the call: {a:?}"
        );
    }

    #[test]
    fn ringing_then_answer_at_the_deadline_and_cancel_while_ringing() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::from_secs(2)), Some(OFFER.into()));
        assert_eq!(drain(&mut c), [CallAction::Ring]);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        c.handle_timeout(t0 + Duration::from_secs(1));
        assert!(drain(&mut c).is_empty(), "early timeout does nothing");
        c.handle_timeout(t0 + Duration::from_secs(2));
        assert!(matches!(drain(&mut c)[..], [CallAction::Answer { .. }]));
        let mut c = CallCore::new(t0, setup(Duration::from_secs(2)), Some(OFFER.into()));
        drain(&mut c);
        c.handle_cancel();
        assert_eq!(
            drain(&mut c),
            [
                CallAction::Terminated,
                CallAction::Ended(HangupCause::CallerCancelled)
            ]
        );
    }

    #[test]
    fn the_flow_hangs_up_with_bye_and_ends_when_the_bye_completes() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
        drain(&mut c);
        c.handle_ack(t0, None);
        let welcome = play_id(&drain(&mut c));
        c.handle_prompt_done(t0, welcome);
        let menu = play_id(&drain(&mut c));
        c.handle_prompt_done(t0, menu);
        c.handle_digit(t0, Digit::from_char('1').unwrap());
        let a = drain(&mut c);
        assert!(a.contains(&CallAction::SendBye), "{a:?}");
        assert!(!c.is_ended());
        c.handle_bye_completed();
        assert_eq!(
            drain(&mut c),
            [CallAction::Ended(HangupCause::Flow(FlowEnd::Completed))]
        );
    }

    #[test]
    fn hold_is_answered_recvonly_and_the_leg_updated() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
        drain(&mut c);
        c.handle_ack(t0, None);
        drain(&mut c);
        c.handle_reinvite(t0, Some(&format!("{OFFER}a=sendonly\r\n")));
        let a = drain(&mut c);
        assert!(
            matches!(&a[0], CallAction::AnswerReinvite { sdp } if sdp.contains("a=recvonly") && sdp.contains(" 2 IN IP4"))
        );
        assert!(
            matches!(&a[1], CallAction::Media(MediaCommand::Update(n)) if n.direction == crate::sdp::Direction::RecvOnly)
        );
    }

    #[test]
    fn the_caller_hanging_up_ends_the_call_and_stops_the_ivr() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
        drain(&mut c);
        c.handle_ack(t0, None);
        drain(&mut c);
        c.handle_bye();
        assert_eq!(drain(&mut c), [CallAction::Ended(HangupCause::Caller)]);
        c.handle_digit(t0, Digit::from_char('1').unwrap());
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn shutdown_refuses_a_ringing_call_and_hangs_up_an_answered_one() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::from_secs(5)), Some(OFFER.into()));
        drain(&mut c);
        c.shut_down();
        assert_eq!(
            drain(&mut c),
            [
                CallAction::Reject { status: 503 },
                CallAction::Ended(HangupCause::Shutdown)
            ]
        );
        let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
        drain(&mut c);
        c.handle_ack(t0, None);
        drain(&mut c);
        c.shut_down();
        assert!(drain(&mut c).contains(&CallAction::SendBye));
        c.handle_bye_completed();
        assert_eq!(drain(&mut c), [CallAction::Ended(HangupCause::Shutdown)]);
    }

    #[test]
    fn a_missing_ack_ends_the_call_with_timeout() {
        let t0 = Instant::now();
        let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
        drain(&mut c);
        c.handle_ack_timeout();
        assert!(drain(&mut c).contains(&CallAction::SendBye));
        c.handle_bye_completed();
        assert_eq!(drain(&mut c), [CallAction::Ended(HangupCause::Timeout)]);
    }
}
