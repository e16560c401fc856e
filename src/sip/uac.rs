//! One outbound INVITE leg and the dialog it creates, as a sans-IO core (RFC 3261 §13.2, §12,
//! §9.1, §15). We use it to ring operators' softphones and, later, a trunk.
//!
//! Owns: the INVITE client transaction, the CANCEL and BYE client transactions, the ACKs
//! (for 2xx, §13.2.2.4, and for 3xx–6xx, §17.1.1.3), the confirmed dialog (remote tag,
//! remote target, route set, CSeq both ways), and the answer to in-dialog requests it
//! understands (BYE, and REFER with the NOTIFYs of its implicit subscription, RFC 3515:
//! answered 202 and reported 100 Trying at once, then with the status the owner gives to
//! [`OutboundCall::notify_refer`]). Inputs are [`OutboundCall::handle_response`],
//! [`OutboundCall::handle_request`], [`OutboundCall::handle_timeout`] and the owner's verbs
//! [`OutboundCall::cancel`] and [`OutboundCall::bye`]; outputs are drained with
//! [`OutboundCall::poll_action`] and [`OutboundCall::poll_timeout`]. Each mutation is
//! followed by a full drain.
//!
//! Every [`OutboundAction::Send`] goes to one fixed destination chosen by the driver (the
//! contact's address or connection): the core knows no sockets and reads no clock. It does
//! not do DNS (RFC 3263), strict routing (a Record-Route without `;lr` is used as if loose),
//! PRACK (RFC 3262) or re-INVITEs of its own; re-INVITEs and other in-dialog requests from the
//! peer are passed up to the owner ([`InDialog::PassUp`]).
//!
//! Digest challenges (§22.2, §8.1.3.5, RFC 7616 client side): with
//! [`OutboundParams::credentials`] set, a 401 or 407 to our INVITE is ACKed by its transaction
//! as any 3xx–6xx and answered with a new INVITE: same Call-ID, From tag and body, To without
//! tag, CSeq + 1, a new branch, and `Authorization` (401) or `Proxy-Authorization` (407) built
//! from the first challenge we can answer. The owner sees no failure; the new transaction's
//! events reach it as the first one's would, and CANCEL, ACK and later requests follow its
//! CSeq. A challenge to the answered INVITE ends the call with its status, unless it says
//! `stale=true` (answered once more, with the new nonce). In-dialog requests (BYE, NOTIFY)
//! are not answered when challenged.
//!
//! Forking (§13.2.2.4): the first 2xx confirms the dialog; a 2xx with another To tag is
//! ACKed and then ended with a BYE of its own, without telling the owner. The same happens
//! to a 2xx that arrives after the owner gave up (CANCEL raced with the answer, or the leg
//! already failed): the owner sees one `Failed(Cancelled)` and the BYE runs internally.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::sip::digest;
use crate::sip::message::{Message, Method, StartLine};
use crate::sip::refer::{self, ReferSubscription};
use crate::sip::response::response_for;
use crate::sip::screen::ALLOW;
use crate::sip::transaction::{
    ClientInviteTx, ClientNonInviteTx, Reliability, Timers, TxAction, TxKey,
};
use crate::sip::uri::{NameAddr, MAGIC_COOKIE};

/// The transport of the leg: decides the Via protocol and whether transactions retransmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    pub fn reliability(self) -> Reliability {
        match self {
            Transport::Udp => Reliability::Unreliable,
            Transport::Tcp => Reliability::Reliable,
        }
    }
}

/// The trunk account a digest challenge to our INVITE is answered with.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: String,
    pub password: String,
    /// Answer only challenges of this realm (`None`: any).
    pub realm: Option<String>,
}

/// Never prints the password (`OutboundParams` is `Debug`).
impl std::fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// What the INVITE says and where it claims to come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundParams {
    /// e.g. `sip:2001@127.0.0.1:25090`
    pub request_uri: String,
    /// name-addr with display name, without tag: `"+77011234567 support 0:42" <sip:…>`
    pub from: String,
    pub to: String,
    /// Our contact URI (bare or in angle brackets).
    pub contact: String,
    /// Via sent-by.
    pub local: SocketAddr,
    pub transport: Transport,
    pub sdp_offer: String,
    pub user_agent: String,
    /// Added to the INVITE as they are (e.g. `Call-Info`).
    pub extra_headers: Vec<(String, String)>,
    pub call_id: String,
    pub from_tag: String,
    /// Answers a 401/407 to the INVITE (see the module doc); `None` lets it fail the call.
    pub credentials: Option<DigestCredentials>,
}

/// How a leg that never got (or kept) an answer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 486, 600
    Busy,
    /// 603
    Declined,
    /// 408, 480, or our Timer B
    NoAnswer,
    /// We cancelled (487 after our CANCEL, or an answer we refused with a BYE)
    Cancelled,
    /// 3xx with the Contact URIs it offered
    Redirected { status: u16, contacts: Vec<String> },
    /// 503
    Unavailable,
    /// Any other 4xx–6xx
    Rejected { status: u16 },
}

impl Outcome {
    /// From a final non-2xx status; `cancelled` = we had asked to CANCEL.
    fn of_response(resp: &Message, cancelled: bool) -> Outcome {
        let status = resp.status().unwrap_or(500);
        match status {
            300..=399 => Outcome::Redirected {
                status,
                contacts: resp
                    .header_values("contact")
                    .filter_map(NameAddr::parse)
                    .map(|c| c.uri)
                    .collect(),
            },
            486 | 600 => Outcome::Busy,
            603 => Outcome::Declined,
            408 | 480 => Outcome::NoAnswer,
            487 if cancelled => Outcome::Cancelled,
            503 => Outcome::Unavailable,
            status => Outcome::Rejected { status },
        }
    }

    /// The status code this outcome stands for: the one received where the variant keeps
    /// it, else the usual one (486 for `Busy`). `None` for `NoAnswer`, which also covers
    /// our own Timer B.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Busy => Some(486),
            Outcome::Declined => Some(603),
            Outcome::NoAnswer => None,
            Outcome::Cancelled => Some(487),
            Outcome::Redirected { status, .. } | Outcome::Rejected { status } => Some(*status),
            Outcome::Unavailable => Some(503),
        }
    }

    /// A metric label.
    /// Every value [`Outcome::label`] gives (bounded metric labels).
    pub const LABELS: [&'static str; 7] = [
        "busy",
        "declined",
        "no_answer",
        "cancelled",
        "redirected",
        "unavailable",
        "rejected",
    ];

    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Busy => "busy",
            Outcome::Declined => "declined",
            Outcome::NoAnswer => "no_answer",
            Outcome::Cancelled => "cancelled",
            Outcome::Redirected { .. } => "redirected",
            Outcome::Unavailable => "unavailable",
            Outcome::Rejected { .. } => "rejected",
        }
    }
}

/// What the owner learns about the leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboundEvent {
    /// A 101–199 (not 100); each distinct early SDP (or its absence) is reported once.
    Ringing { early_sdp: Option<String> },
    /// The first 2xx; it is already ACKed.
    Answered { sdp: Option<String> },
    /// No call: the leg ended before an answer (or we refused the answer after cancelling).
    Failed(Outcome),
    /// Our BYE got its final response, or Timer F gave up on it.
    ByeDone,
    /// The peer hung up (its BYE is answered through [`InDialog::Respond`]).
    RemoteBye,
    /// The peer asks us to send the other party to `target` (a REFER, answered 202; a
    /// NOTIFY with 100 Trying is already on its way). The owner reports the outcome with
    /// [`OutboundCall::notify_refer`].
    Refer { target: refer::ReferTo },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboundAction {
    /// Bytes for the leg's fixed destination.
    Send(Bytes),
    Event(OutboundEvent),
}

/// What [`OutboundCall::handle_request`] made of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InDialog {
    /// Not this dialog's (Call-ID or tags differ, or no dialog yet).
    NotOurs,
    /// Answer with this response through the request's server transaction (200 to a BYE,
    /// 500 to an out-of-order CSeq, 400 to a missing one).
    Respond(Message),
    /// Ours and in order, but for the owner to handle (re-INVITE, ACK, CANCEL).
    PassUp,
}

/// An outbound INVITE leg and its dialog. See the module doc.
#[derive(Debug)]
pub struct OutboundCall {
    params: OutboundParams,
    timers: Timers,
    /// The From header with our tag.
    from_header: String,
    invite_branch: String,
    invite_via: String,
    /// The CSeq number of the INVITE now running (1, or more after answered challenges).
    invite_cseq: u32,
    /// The credentials header of that INVITE, repeated in the ACK of its 2xx (§13.2.2.4).
    invite_auth: Option<(&'static str, String)>,
    invite_tx: ClientInviteTx,
    /// Challenges answered so far: 1, and 2 after a `stale=true` one.
    auth_answers: u8,
    /// Challenged INVITE transactions, by branch, until Timer D: they re-ACK a retransmitted
    /// 401/407.
    challenged: Vec<(String, ClientInviteTx)>,
    provisional_seen: bool,
    cancel: Cancel,
    /// §9.1: after a CANCEL, 64·T1 without a final response ends the leg anyway.
    give_up_at: Option<Instant>,
    /// Early SDPs already reported (`None` = a ringing without SDP).
    ringing_reported: Vec<Option<String>>,
    /// The ACK sent for each 2xx, by To tag: a retransmitted 2xx gets the same ACK.
    acks: Vec<(String, Bytes)>,
    dialog: Option<Dialog>,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    byes: Vec<ByeTx>,
    /// The implicit subscription of the last REFER, and how many REFERs the dialog saw.
    refer: Option<ReferSubscription>,
    refers_seen: u32,
    /// NOTIFY client transactions, by branch (their outcome changes nothing).
    notifies: Vec<(String, ClientNonInviteTx)>,
    ended: bool,
    out: VecDeque<OutboundAction>,
}

#[derive(Debug)]
enum Cancel {
    NotRequested,
    /// Asked for before any provisional response (§9.1): sent when one arrives.
    Held,
    Sent(Box<ClientNonInviteTx>),
}

/// The remote side of a dialog created by a 2xx (§12.1.2).
#[derive(Debug)]
struct Dialog {
    remote_tag: String,
    remote_target: String,
    /// Record-Route of the 2xx, reversed.
    route_set: Vec<String>,
    /// The To header of the 2xx (with the remote tag).
    to: String,
}

#[derive(Debug)]
struct ByeTx {
    branch: String,
    tx: ClientNonInviteTx,
    /// The owner's BYE (reports `ByeDone`) or one we send on our own (forks, races).
    owners: bool,
}

impl OutboundCall {
    /// Build the INVITE (sent by the first drain) and start its transaction.
    pub fn new(now: Instant, params: OutboundParams, timers: Timers) -> Self {
        let invite_branch = new_branch();
        let invite_via = via(&params, &invite_branch);
        let from_header = format!("{};tag={}", params.from, params.from_tag);
        let invite = invite(&params, &from_header, &invite_via, 1, None);
        let invite_tx = ClientInviteTx::new(
            now,
            invite.to_bytes(),
            params.transport.reliability(),
            timers,
        );
        let mut call = OutboundCall {
            params,
            timers,
            from_header,
            invite_branch,
            invite_via,
            invite_cseq: 1,
            invite_auth: None,
            invite_tx,
            auth_answers: 0,
            challenged: Vec::new(),
            provisional_seen: false,
            cancel: Cancel::NotRequested,
            give_up_at: None,
            ringing_reported: Vec::new(),
            acks: Vec::new(),
            dialog: None,
            local_cseq: 1,
            remote_cseq: None,
            byes: Vec::new(),
            refer: None,
            refers_seen: 0,
            notifies: Vec::new(),
            ended: false,
            out: VecDeque::new(),
        };
        call.drain_invite(now, None);
        call
    }

    /// A response from the peer. Matched by Call-ID, top-Via branch and CSeq method to the
    /// INVITE, CANCEL or a BYE (§17.1.3); anything else is ignored.
    pub fn handle_response(&mut self, now: Instant, resp: &Message) {
        let Some(code) = resp.status() else {
            return;
        };
        if resp.call_id() != Some(self.params.call_id.as_str()) {
            return;
        }
        let Some((branch, method)) = TxKey::of_response(resp) else {
            return;
        };
        match method.as_str() {
            "INVITE" if branch == self.invite_branch => {
                let ack = (code >= 300).then(|| self.non_2xx_ack(resp));
                self.invite_tx.handle_response(now, code, ack);
                self.drain_invite(now, Some(resp));
                if (200..300).contains(&code) {
                    self.on_2xx(now, resp);
                }
            }
            "INVITE" => {
                // A 401/407 retransmitted to a challenged INVITE: its transaction re-ACKs.
                if let Some((_, tx)) = self.challenged.iter_mut().find(|(b, _)| *b == branch) {
                    tx.handle_response(now, code, None);
                }
                self.drain_challenged();
            }
            "CANCEL" if branch == self.invite_branch => {
                if let Cancel::Sent(tx) = &mut self.cancel {
                    tx.handle_response(now, code);
                }
                self.drain_cancel();
            }
            "BYE" => {
                if let Some(i) = self.byes.iter().position(|b| b.branch == branch) {
                    self.byes[i].tx.handle_response(now, code);
                    self.drain_byes();
                }
            }
            "NOTIFY" => {
                if let Some((_, tx)) = self.notifies.iter_mut().find(|(b, _)| *b == branch) {
                    tx.handle_response(now, code);
                }
                self.drain_notifies();
            }
            _ => {}
        }
    }

    /// A request from the peer (the driver's server transaction sends the response). Checks
    /// that it belongs to the confirmed dialog and that its CSeq is in order (§12.2.2); a
    /// BYE ends the call with `RemoteBye` (unless our own BYE already runs) and gets a 200.
    pub fn handle_request(&mut self, now: Instant, req: &Message) -> InDialog {
        if !self.matches(req) {
            return InDialog::NotOurs;
        }
        let Some(method) = req.method() else {
            return InDialog::NotOurs;
        };
        if matches!(method, Method::Ack | Method::Cancel) {
            return InDialog::PassUp; // no CSeq of their own (§12.2.2)
        }
        let Some((cseq, _)) = req.cseq() else {
            return InDialog::Respond(self.answer(req, 400));
        };
        // §12.2.2: lower than the remote sequence number is out of order.
        if self.remote_cseq.is_some_and(|last| cseq < last) {
            return InDialog::Respond(self.answer(req, 500));
        }
        self.remote_cseq = Some(cseq);
        match method {
            Method::Bye => {}
            Method::Invite => return InDialog::PassUp,
            Method::Refer => return InDialog::Respond(self.accept_refer(now, req, cseq)),
            // INFO, UPDATE… are not handled on an operator's leg: a clean refusal keeps the
            // phone's session as it is.
            _ => return InDialog::Respond(self.answer(req, 488)),
        }
        // Crossing BYEs: ours will end with ByeDone, so RemoteBye would be a second end.
        let our_bye_pending = self.byes.iter().any(|b| b.owners);
        if !self.ended && !our_bye_pending {
            self.ended = true;
            self.event(OutboundEvent::RemoteBye);
        }
        InDialog::Respond(self.answer(req, 200))
    }

    /// True when `req` belongs to the confirmed dialog: same Call-ID, their From tag is our
    /// remote tag and their To tag is our local tag.
    pub fn matches(&self, req: &Message) -> bool {
        let Some(dialog) = &self.dialog else {
            return false;
        };
        req.call_id() == Some(self.params.call_id.as_str())
            && req.from().as_ref().and_then(|f| f.tag()) == Some(dialog.remote_tag.as_str())
            && req.to().as_ref().and_then(|t| t.tag()) == Some(self.params.from_tag.as_str())
    }

    /// We stop ringing. Sent at once after a provisional response, or held until the first
    /// one (§9.1); ends in `Failed(Cancelled)` (or in the final status that crossed it).
    /// No-op once answered (use [`OutboundCall::bye`]) or ended.
    pub fn cancel(&mut self, now: Instant) {
        if self.ended || self.dialog.is_some() || !matches!(self.cancel, Cancel::NotRequested) {
            return;
        }
        if self.provisional_seen {
            self.send_cancel(now);
        } else {
            self.cancel = Cancel::Held;
        }
    }

    /// Hang up an answered call (§15.1.1); `ByeDone` follows. Before the answer this is
    /// [`OutboundCall::cancel`]. No-op once ended or while our BYE runs.
    pub fn bye(&mut self, now: Instant) {
        if self.ended || self.byes.iter().any(|b| b.owners) {
            return;
        }
        let Some(dialog) = &self.dialog else {
            self.cancel(now);
            return;
        };
        self.local_cseq += 1;
        let (msg, branch) = self.in_dialog_request(dialog, Method::Bye, self.local_cseq);
        self.start_bye(now, msg, branch, true);
    }

    /// Report the transfer's progress or outcome to the peer that sent the REFER: a NOTIFY
    /// with `status` as sipfrag; a final status (≥ 200) ends the subscription. No-op without
    /// a live subscription or once the dialog has ended.
    pub fn notify_refer(&mut self, now: Instant, status: u16) {
        if self.ended {
            return;
        }
        let (Some(dialog), Some(sub)) = (&self.dialog, self.refer.as_mut()) else {
            return;
        };
        let Some(content) = sub.notify(status) else {
            return;
        };
        self.local_cseq += 1;
        let (mut msg, branch) = self.in_dialog_request(dialog, Method::Notify, self.local_cseq);
        msg.push_header("contact", self.contact());
        msg.push_header("event", content.event);
        msg.push_header("subscription-state", content.subscription_state);
        msg.push_header("content-type", content.content_type);
        msg.body = Bytes::from(content.body);
        let tx = ClientNonInviteTx::new(
            now,
            msg.to_bytes(),
            self.params.transport.reliability(),
            self.timers,
        );
        self.notifies.push((branch, tx));
        self.drain_notifies();
    }

    /// A REFER in the confirmed dialog: 202 and NOTIFY 100 Trying when its Refer-To is
    /// usable (the owner learns the target), otherwise the error status. One transfer at a
    /// time: a REFER while another's outcome is pending gets 491.
    fn accept_refer(&mut self, now: Instant, req: &Message, cseq: u32) -> Message {
        let target = match refer::refer_target(req) {
            Ok(t) => t,
            Err(status) => return self.answer(req, status),
        };
        if self.refer.as_ref().is_some_and(|r| !r.is_terminated()) {
            return self.answer(req, 491);
        }
        self.refers_seen += 1;
        self.refer = Some(ReferSubscription::new(cseq, self.refers_seen == 1));
        self.event(OutboundEvent::Refer { target });
        self.notify_refer(now, 100);
        self.answer(req, 202)
    }

    /// Our Contact, in angle brackets.
    fn contact(&self) -> String {
        if self.params.contact.starts_with('<') {
            self.params.contact.clone()
        } else {
            format!("<{}>", self.params.contact)
        }
    }

    fn drain_challenged(&mut self) {
        for (_, tx) in &mut self.challenged {
            while let Some(action) = tx.poll_action() {
                if let TxAction::Send(bytes) = action {
                    self.out.push_back(OutboundAction::Send(bytes));
                }
            }
        }
        self.challenged.retain(|(_, tx)| !tx.is_terminated());
    }

    fn drain_notifies(&mut self) {
        for (_, tx) in &mut self.notifies {
            while let Some(action) = tx.poll_action() {
                if let TxAction::Send(bytes) = action {
                    self.out.push_back(OutboundAction::Send(bytes));
                }
            }
        }
        self.notifies.retain(|(_, tx)| !tx.is_terminated());
    }

    /// Fire due timers. Early or repeated calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.invite_tx.handle_timeout(now);
        self.drain_invite(now, None);
        for (_, tx) in &mut self.challenged {
            tx.handle_timeout(now);
        }
        self.drain_challenged();
        if let Cancel::Sent(tx) = &mut self.cancel {
            tx.handle_timeout(now);
        }
        self.drain_cancel();
        for b in &mut self.byes {
            b.tx.handle_timeout(now);
        }
        self.drain_byes();
        for (_, tx) in &mut self.notifies {
            tx.handle_timeout(now);
        }
        self.drain_notifies();
        if self.give_up_at.is_some_and(|t| t <= now) {
            // §9.1: no final response 64·T1 after the CANCEL; consider the INVITE cancelled.
            self.give_up_at = None;
            self.fail(Outcome::Cancelled);
        }
    }

    /// The earliest deadline of any of the leg's transactions, `None` when none runs.
    /// Changes after every input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let cancel = match &self.cancel {
            Cancel::Sent(tx) => tx.poll_timeout(),
            _ => None,
        };
        [self.invite_tx.poll_timeout(), cancel, self.give_up_at]
            .into_iter()
            .chain(self.byes.iter().map(|b| b.tx.poll_timeout()))
            .chain(self.notifies.iter().map(|(_, tx)| tx.poll_timeout()))
            .chain(self.challenged.iter().map(|(_, tx)| tx.poll_timeout()))
            .flatten()
            .min()
    }

    pub fn poll_action(&mut self) -> Option<OutboundAction> {
        self.out.pop_front()
    }

    /// The owner has seen the end (`Failed`, `ByeDone` or `RemoteBye`). Keep driving the
    /// core until `poll_timeout()` is `None` so ACK and BYE retransmissions finish.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn local_tag(&self) -> &str {
        &self.params.from_tag
    }

    /// The To tag of the confirmed dialog.
    pub fn remote_tag(&self) -> Option<&str> {
        self.dialog.as_ref().map(|d| d.remote_tag.as_str())
    }

    pub fn call_id(&self) -> &str {
        &self.params.call_id
    }

    fn event(&mut self, ev: OutboundEvent) {
        self.out.push_back(OutboundAction::Event(ev));
    }

    fn fail(&mut self, outcome: Outcome) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.give_up_at = None;
        self.event(OutboundEvent::Failed(outcome));
    }

    fn cancel_requested(&self) -> bool {
        !matches!(self.cancel, Cancel::NotRequested)
    }

    fn drain_invite(&mut self, now: Instant, resp: Option<&Message>) {
        // Sent after the loop, so that the challenged INVITE's ACK goes out first.
        let mut retry = None;
        while let Some(action) = self.invite_tx.poll_action() {
            match action {
                TxAction::Send(b) => self.out.push_back(OutboundAction::Send(b)),
                TxAction::Provisional(code) => {
                    if let Some(resp) = resp {
                        self.on_provisional(now, code, resp);
                    }
                }
                TxAction::Final(code) if code >= 300 => {
                    if let Some(resp) = resp {
                        retry = self.answer_challenge(resp);
                        if retry.is_none() {
                            let outcome = Outcome::of_response(resp, self.cancel_requested());
                            self.fail(outcome);
                        }
                    }
                }
                TxAction::TimedOut => {
                    // Timer B: nothing at all came back. A held CANCEL is moot.
                    let outcome = if self.cancel_requested() {
                        Outcome::Cancelled
                    } else {
                        Outcome::NoAnswer
                    };
                    self.fail(outcome);
                }
                TxAction::Final(_) | TxAction::Terminated => {}
            }
        }
        if let Some(auth) = retry {
            self.resend_invite(now, auth);
        }
    }

    /// The credentials header answering a 401/407 to the running INVITE, or `None` when the
    /// final response stands: not a challenge, no credentials, no challenge we can answer
    /// (not Digest, no `qop=auth`, `*-sess`…), the owner gave up, or the challenge follows
    /// our answer without `stale=true` (§22.2: the credentials were refused).
    fn answer_challenge(&self, resp: &Message) -> Option<(&'static str, String)> {
        let (challenge_header, answer_header) = match resp.status()? {
            401 => ("www-authenticate", "authorization"),
            407 => ("proxy-authenticate", "proxy-authorization"),
            _ => return None,
        };
        if self.ended || self.cancel_requested() {
            return None;
        }
        let creds = self.params.credentials.as_ref()?;
        // Several challenges (e.g. SHA-256 and MD5, RFC 8760 §2.4): the first we can answer.
        let challenge = resp
            .header_values(challenge_header)
            .find_map(|v| digest::Challenge::parse(v).ok())
            .filter(|c| creds.realm.as_ref().is_none_or(|r| *r == c.realm))?;
        let again = match self.auth_answers {
            0 => true,
            1 => challenge.stale,
            _ => false,
        };
        if !again {
            return None;
        }
        let value = digest::authorization(
            &challenge,
            &creds.username,
            &creds.password,
            "INVITE",
            &self.params.request_uri,
            &digest::random_cnonce(),
            1,
        );
        Some((answer_header, value))
    }

    /// §8.1.3.5, §22.2: the INVITE again, with credentials, as a new transaction (new
    /// branch, CSeq + 1). The challenged one lives on until Timer D to re-ACK.
    fn resend_invite(&mut self, now: Instant, auth: (&'static str, String)) {
        self.auth_answers += 1;
        self.invite_cseq += 1;
        self.local_cseq = self.invite_cseq;
        let branch = new_branch();
        let via = via(&self.params, &branch);
        let msg = invite(
            &self.params,
            &self.from_header,
            &via,
            self.invite_cseq,
            Some((auth.0, auth.1.as_str())),
        );
        let tx = ClientInviteTx::new(
            now,
            msg.to_bytes(),
            self.params.transport.reliability(),
            self.timers,
        );
        let old_branch = std::mem::replace(&mut self.invite_branch, branch);
        let old_tx = std::mem::replace(&mut self.invite_tx, tx);
        if !old_tx.is_terminated() {
            self.challenged.push((old_branch, old_tx));
        }
        self.invite_via = via;
        self.invite_auth = Some(auth);
        // §9.1: a CANCEL waits for a provisional response to this INVITE.
        self.provisional_seen = false;
        self.drain_invite(now, None);
    }

    fn drain_cancel(&mut self) {
        if let Cancel::Sent(tx) = &mut self.cancel {
            while let Some(action) = tx.poll_action() {
                // Its final response says nothing: the INVITE's 487 (or 2xx) decides.
                if let TxAction::Send(b) = action {
                    self.out.push_back(OutboundAction::Send(b));
                }
            }
        }
    }

    fn drain_byes(&mut self) {
        let mut done = false;
        for b in &mut self.byes {
            while let Some(action) = b.tx.poll_action() {
                match action {
                    TxAction::Send(bytes) => self.out.push_back(OutboundAction::Send(bytes)),
                    TxAction::Final(_) | TxAction::TimedOut if b.owners => done = true,
                    _ => {}
                }
            }
        }
        self.byes.retain(|b| !b.tx.is_terminated());
        if done {
            self.ended = true;
            self.event(OutboundEvent::ByeDone);
        }
    }

    fn on_provisional(&mut self, now: Instant, code: u16, resp: &Message) {
        self.provisional_seen = true;
        if matches!(self.cancel, Cancel::Held) {
            self.send_cancel(now);
        }
        if code == 100 || self.ended || self.cancel_requested() {
            return;
        }
        let early_sdp = sdp_of(resp);
        if !self.ringing_reported.contains(&early_sdp) {
            self.ringing_reported.push(early_sdp.clone());
            self.event(OutboundEvent::Ringing { early_sdp });
        }
    }

    /// §13.2.2.4: ACK every 2xx (the same ACK for a retransmission); the first one of a
    /// leg still wanted confirms the dialog, any other gets a BYE.
    fn on_2xx(&mut self, now: Instant, resp: &Message) {
        let Some(tag) = resp.to().and_then(|t| t.tag().map(str::to_string)) else {
            return; // a 2xx without To tag creates no dialog we could ACK or end
        };
        if let Some((_, ack)) = self.acks.iter().find(|(t, _)| *t == tag) {
            self.out.push_back(OutboundAction::Send(ack.clone()));
            return;
        }
        let dialog = Dialog {
            remote_tag: tag.clone(),
            remote_target: resp
                .header_values("contact")
                .next()
                .and_then(NameAddr::parse)
                .map(|c| c.uri)
                .unwrap_or_else(|| self.params.request_uri.clone()),
            route_set: {
                let mut rs: Vec<String> = resp
                    .header_values("record-route")
                    .map(str::to_string)
                    .collect();
                rs.reverse();
                rs
            },
            to: resp.header("to").unwrap_or_default().to_string(),
        };
        let (mut ack, _) = self.in_dialog_request(&dialog, Method::Ack, self.invite_cseq);
        if let Some((name, value)) = &self.invite_auth {
            ack.push_header(name, value.clone()); // §13.2.2.4: the INVITE's credentials
        }
        let ack = ack.to_bytes();
        self.acks.push((tag, ack.clone()));
        self.out.push_back(OutboundAction::Send(ack));
        self.give_up_at = None;
        if self.dialog.is_none() && !self.ended && !self.cancel_requested() {
            let sdp = sdp_of(resp);
            self.dialog = Some(dialog);
            self.event(OutboundEvent::Answered { sdp });
            return;
        }
        // A fork, or an answer after we gave up: end that dialog ourselves.
        let (bye, branch) = self.in_dialog_request(&dialog, Method::Bye, self.invite_cseq + 1);
        self.start_bye(now, bye, branch, false);
        if self.dialog.is_none() {
            self.fail(Outcome::Cancelled);
        }
    }

    fn send_cancel(&mut self, now: Instant) {
        // §9.1: same Request-URI, Call-ID, From, To, branch and CSeq number as the INVITE.
        let mut msg = request(Method::Cancel, &self.params.request_uri);
        msg.push_header("via", self.invite_via.clone());
        msg.push_header("max-forwards", "70");
        msg.push_header("from", self.from_header.clone());
        msg.push_header("to", self.params.to.clone());
        msg.push_header("call-id", self.params.call_id.clone());
        msg.push_header("cseq", format!("{} CANCEL", self.invite_cseq));
        let tx = ClientNonInviteTx::new(
            now,
            msg.to_bytes(),
            self.params.transport.reliability(),
            self.timers,
        );
        self.cancel = Cancel::Sent(Box::new(tx));
        self.give_up_at = Some(now + self.timers.t64());
        self.drain_cancel();
    }

    fn start_bye(&mut self, now: Instant, msg: Message, branch: String, owners: bool) {
        let tx = ClientNonInviteTx::new(
            now,
            msg.to_bytes(),
            self.params.transport.reliability(),
            self.timers,
        );
        self.byes.push(ByeTx { branch, tx, owners });
        self.drain_byes();
    }

    /// §17.1.1.3: the ACK of a 3xx–6xx is part of the INVITE transaction.
    fn non_2xx_ack(&self, resp: &Message) -> Bytes {
        let mut msg = request(Method::Ack, &self.params.request_uri);
        msg.push_header("via", self.invite_via.clone());
        msg.push_header("max-forwards", "70");
        msg.push_header("from", self.from_header.clone());
        msg.push_header(
            "to",
            resp.header("to").unwrap_or(&self.params.to).to_string(),
        );
        msg.push_header("call-id", self.params.call_id.clone());
        msg.push_header("cseq", format!("{} ACK", self.invite_cseq));
        msg.to_bytes()
    }

    /// §12.2.1.1: a request within `dialog`, with a fresh branch (returned too).
    fn in_dialog_request(&self, dialog: &Dialog, method: Method, cseq: u32) -> (Message, String) {
        let branch = new_branch();
        let mut msg = request(method.clone(), &dialog.remote_target);
        msg.push_header(
            "via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.params.transport.as_str(),
                self.params.local
            ),
        );
        for route in &dialog.route_set {
            msg.push_header("route", route.clone());
        }
        msg.push_header("max-forwards", "70");
        msg.push_header("from", self.from_header.clone());
        msg.push_header("to", dialog.to.clone());
        msg.push_header("call-id", self.params.call_id.clone());
        msg.push_header("cseq", format!("{cseq} {method}"));
        if method != Method::Ack {
            msg.push_header("user-agent", self.params.user_agent.clone());
        }
        (msg, branch)
    }

    fn answer(&self, req: &Message, code: u16) -> Message {
        let mut resp = response_for(req, code, &self.params.from_tag);
        resp.push_header("server", self.params.user_agent.clone());
        resp
    }
}

fn request(method: Method, uri: &str) -> Message {
    Message {
        start: StartLine::Request {
            method,
            uri: uri.to_string(),
            version: "SIP/2.0".into(),
        },
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

fn via(params: &OutboundParams, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {};branch={branch};rport",
        params.transport.as_str(),
        params.local
    )
}

/// The INVITE as first sent and as resent with credentials (`auth`: header name and value).
fn invite(
    params: &OutboundParams,
    from_header: &str,
    via: &str,
    cseq: u32,
    auth: Option<(&str, &str)>,
) -> Message {
    let mut invite = request(Method::Invite, &params.request_uri);
    invite.push_header("via", via);
    invite.push_header("max-forwards", "70");
    invite.push_header("from", from_header);
    invite.push_header("to", params.to.clone());
    invite.push_header("call-id", params.call_id.clone());
    invite.push_header("cseq", format!("{cseq} INVITE"));
    let contact = if params.contact.starts_with('<') {
        params.contact.clone()
    } else {
        format!("<{}>", params.contact)
    };
    invite.push_header("contact", contact); // as `contact()`, before `self` exists
    invite.push_header("allow", ALLOW);
    invite.push_header("user-agent", params.user_agent.clone());
    if let Some((name, value)) = auth {
        invite.push_header(name, value);
    }
    for (name, value) in &params.extra_headers {
        invite.push_header(name, value.clone());
    }
    invite.push_header("content-type", "application/sdp");
    invite.body = Bytes::copy_from_slice(params.sdp_offer.as_bytes());
    invite
}

fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{:016x}", rand::random::<u64>())
}

fn sdp_of(msg: &Message) -> Option<String> {
    if msg.content_type().as_deref() != Some("application/sdp") {
        return None;
    }
    msg.body_text().map(str::to_string)
}

#[cfg(test)]
#[path = "uac_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "uac_auth_tests.rs"]
mod auth_tests;
