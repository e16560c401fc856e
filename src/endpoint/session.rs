//! The caller's dialog beyond the INVITE, in the endpoint (driver side): UPDATE (RFC 3311)
//! passed to the call and answered with its verdict, and session timers (RFC 4028) — the
//! negotiation, the 422 and the deadlines are decided in [`crate::sip::session_timer`];
//! here they are armed on the timer heap, refreshes are sent and a session nobody
//! refreshed is reported to its call.

use std::time::Instant;

use bytes::Bytes;

use crate::call::driver::CallEvent;
use crate::sip::message::{Message, Method, StartLine};
use crate::sip::response::response_for;
use crate::sip::session_timer::{self, Negotiated, RefreshMethod, TimerAction};
use crate::sip::transaction::{ClientInviteTx, ClientNonInviteTx, TxAction, TxKey};
use crate::telemetry;

use super::dialog::RefreshInvite;
use super::timers::TimerOwner;
use super::{now, reliability, ClientEntry, ClientOwner, Endpoint, Route, ServerTx, TxKind};

impl Endpoint {
    /// A 422 for a session-refresh request (INVITE, re-INVITE, UPDATE) whose session
    /// interval is below our minimum (RFC 4028 §9); `None` when it may go on.
    pub(super) fn session_interval_too_small(
        &self,
        req: &Message,
        to_tag: &str,
    ) -> Option<Message> {
        match session_timer::negotiate(req, &self.p.config.sip.session_timer, now()) {
            Negotiated::TooSmall { min_se } => {
                let mut resp = response_for(req, 422, to_tag);
                resp.push_header("min-se", min_se.to_string());
                Some(resp)
            }
            _ => None,
        }
    }

    /// A 2xx to the session-refresh request `req` of dialog `call` is about to go out:
    /// (re)start the session timer and return the headers the 2xx must carry.
    pub(super) fn arm_session_timer(
        &mut self,
        call: u64,
        req: &Message,
    ) -> Vec<(&'static str, String)> {
        let policy = self.p.config.sip.session_timer;
        let Some(d) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        d.session_timer = match session_timer::negotiate(req, &policy, now()) {
            Negotiated::On(t) => Some(t),
            Negotiated::Off | Negotiated::TooSmall { .. } => None,
        };
        let Some(t) = &d.session_timer else {
            return Vec::new();
        };
        let headers = t.response_headers();
        if let Some(at) = t.poll_timeout() {
            self.heap.push(at, TimerOwner::Session(call));
        }
        headers
    }

    /// An UPDATE from the caller: 422 if its interval is too brief, 491 while another
    /// offer of theirs is pending, otherwise the call answers it (`RespondUpdate`).
    pub(super) async fn update(&mut self, call: u64, req: Message, key: TxKey, route: Route) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let local_tag = d.local_tag.clone();
        let busy = d.pending_update.is_some() || d.pending_reinvite.is_some();
        let refusal = self
            .session_interval_too_small(&req, &local_tag)
            .or_else(|| busy.then(|| response_for(&req, 491, &local_tag)));
        if let Some(resp) = refusal {
            self.respond_non_invite(key, route, &req, resp).await;
            return;
        }
        let body = req.body_text().map(str::to_string);
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.events.try_send(CallEvent::Update(body)).is_err() {
            let resp = response_for(&req, 500, &local_tag);
            self.respond_non_invite(key, route, &req, resp).await;
            return;
        }
        d.pending_update = Some(Box::new((key.clone(), req.clone())));
        self.open_transaction(key, &req, route, TxKind::NonInvite, None);
    }

    /// The call's answer to the pending UPDATE; a 2xx refreshes the session timer.
    pub(super) async fn respond_update(&mut self, call: u64, status: u16, sdp: Option<String>) {
        let Some((key, req)) = self
            .calls
            .get_mut(&call)
            .and_then(|d| d.pending_update.take().map(|p| *p))
        else {
            return;
        };
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let mut resp = d.response_to(
            &req,
            status,
            sdp.as_deref(),
            &self.p.config.sip.user_agent,
            self.p.transports.local(d.via, d.response_dest),
        );
        if (200..300).contains(&status) {
            for (name, value) in self.arm_session_timer(call, &req) {
                resp.push_header(name, value);
            }
        }
        self.stamp_server(&mut resp);
        let Some(entry) = self.server.get_mut(&key) else {
            return;
        };
        if let ServerTx::NonInvite(tx) = &mut entry.tx {
            metrics::counter!(telemetry::SIP_RESPONSES, "method" => "UPDATE", "code" => status.to_string()).increment(1);
            tx.respond(now(), status, resp.to_bytes());
        }
        self.drain_server(&key).await;
    }

    /// The session timer of `call` is due: refresh (we are the refresher) or report the
    /// session over.
    pub(super) async fn session_timer_due(&mut self, call: u64, t: Instant) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(timer) = d.session_timer.as_mut() else {
            return;
        };
        let action = timer.handle_timeout(t);
        let next = timer.poll_timeout();
        match action {
            Some(TimerAction::Expired) => {
                d.session_timer = None;
                let _ = d.events.try_send(CallEvent::SessionExpired);
                return;
            }
            Some(TimerAction::Refresh(method)) => self.send_refresh(call, method).await,
            None => {}
        }
        if let Some(at) = next {
            self.heap.push(at, TimerOwner::Session(call));
        }
    }

    /// Refresh the session (RFC 4028 §7.4): an UPDATE without a body, carrying the
    /// interval and `refresher=uas`. A peer that does not allow UPDATE is refreshed by a
    /// re-INVITE with the session description it already has (§8 of RFC 3264: unchanged,
    /// same version).
    async fn send_refresh(&mut self, call: u64, method: RefreshMethod) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let local = self.p.transports.local(d.via, d.request_target());
        let Some(interval) = d.session_timer.as_ref().map(|t| t.interval().as_secs()) else {
            return;
        };
        let m = match method {
            RefreshMethod::Update => Method::Update,
            RefreshMethod::ReInvite => Method::Invite,
        };
        let (mut req, branch) = d.request(m.clone(), local);
        req.push_header("contact", d.contact(local));
        req.push_header("supported", crate::sip::screen::SUPPORTED);
        req.push_header("session-expires", format!("{interval};refresher=uas"));
        req.push_header("user-agent", self.p.config.sip.user_agent.clone());
        if m == Method::Invite {
            let Some(sdp) = d.last_sdp.clone() else {
                return;
            };
            req.push_header("content-type", "application/sdp");
            req.body = Bytes::from(sdp);
            self.start_reinvite_refresh(call, req, branch).await;
            return;
        }
        let tx = ClientNonInviteTx::new(now(), req.to_bytes(), reliability(d.via), self.timers);
        metrics::counter!(telemetry::SIP_REQUESTS_SENT, "method" => "UPDATE").increment(1);
        self.client.insert(
            branch.clone(),
            ClientEntry {
                tx,
                owner: ClientOwner::Refresh(call),
            },
        );
        self.drain_client(&branch).await;
    }

    /// The final response to our refresh (or its time-out as 408).
    pub(super) fn refresh_answered(&mut self, call: u64, status: u16) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(timer) = d.session_timer.as_mut() else {
            return;
        };
        match timer.refresh_answered(now(), status) {
            Some(TimerAction::Expired) => {
                d.session_timer = None;
                let _ = d.events.try_send(CallEvent::SessionExpired);
            }
            _ => {
                if let Some(at) = timer.poll_timeout() {
                    self.heap.push(at, TimerOwner::Session(call));
                }
            }
        }
    }

    /// Start our re-INVITE refresh: an INVITE client transaction; its 2xx is ACKed by the
    /// dialog (§13.2.2.4), a 3xx–6xx by the transaction (§17.1.1.3).
    async fn start_reinvite_refresh(&mut self, call: u64, req: Message, branch: String) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
        let tx = ClientInviteTx::new(now(), req.to_bytes(), reliability(d.via), self.timers);
        metrics::counter!(telemetry::SIP_REQUESTS_SENT, "method" => "INVITE").increment(1);
        d.refresh_invite = Some(Box::new(RefreshInvite {
            branch,
            cseq,
            request: req,
            tx,
            ack: None,
        }));
        self.drain_refresh_invite(call).await;
    }

    /// A response to our re-INVITE refresh; `false` when it is not one.
    pub(super) async fn refresh_invite_response(&mut self, resp: &Message) -> bool {
        let Some((branch, method)) = TxKey::of_response(resp) else {
            return false;
        };
        let found = (method == "INVITE")
            .then(|| {
                let key = (resp.call_id()?.to_string(), resp.to()?.tag()?.to_string());
                self.by_dialog.get(&key).copied()
            })
            .flatten();
        let Some(call) = found else {
            return false;
        };
        let Some(d) = self.calls.get_mut(&call) else {
            return false;
        };
        let local = self.p.transports.local(d.via, d.request_target());
        let Some(cseq) = d
            .refresh_invite
            .as_ref()
            .filter(|r| r.branch == branch)
            .map(|r| r.cseq)
        else {
            return false;
        };
        let code = resp.status().unwrap_or(0);
        let ack_2xx = (200..300)
            .contains(&code)
            .then(|| d.ack(cseq, local).to_bytes());
        let (via, dest) = (d.via, d.request_target());
        let Some(r) = d.refresh_invite.as_mut() else {
            return false;
        };
        if let Some(ack) = ack_2xx {
            let first = r.ack.is_none();
            r.ack = Some(ack.clone());
            r.tx.handle_response(now(), code, None);
            self.send(via, dest, ack).await;
            if !first {
                return true; // a retransmitted 2xx: ACKed again, nothing else
            }
        } else {
            let ack = (code >= 300).then(|| non_2xx_ack(&r.request, resp));
            r.tx.handle_response(now(), code, ack);
        }
        self.drain_refresh_invite(call).await;
        true
    }

    pub(super) async fn refresh_invite_timer(&mut self, call: u64) {
        let Some(r) = self
            .calls
            .get_mut(&call)
            .and_then(|d| d.refresh_invite.as_mut())
        else {
            return;
        };
        r.tx.handle_timeout(now());
        self.drain_refresh_invite(call).await;
    }

    async fn drain_refresh_invite(&mut self, call: u64) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let (via, dest) = (d.via, d.request_target());
        let Some(r) = d.refresh_invite.as_mut() else {
            return;
        };
        let mut sends = Vec::new();
        let mut outcome = None;
        while let Some(a) = r.tx.poll_action() {
            match a {
                TxAction::Send(b) => sends.push(b),
                TxAction::Final(code) => outcome = Some(code),
                TxAction::TimedOut => outcome = Some(408),
                TxAction::Provisional(_) | TxAction::Terminated => {}
            }
        }
        if let Some(at) = r.tx.poll_timeout() {
            self.heap.push(at, TimerOwner::RefreshInvite(call));
        }
        for b in sends {
            self.send(via, dest, b).await;
        }
        if let Some(code) = outcome {
            self.refresh_answered(call, code);
        }
    }
}

/// §17.1.1.3: the ACK of a 3xx–6xx to our re-INVITE, part of its transaction: same
/// Request-URI, top Via, From, Call-ID and CSeq number; the To of the response.
fn non_2xx_ack(req: &Message, resp: &Message) -> Bytes {
    let mut ack = Message {
        start: StartLine::Request {
            method: Method::Ack,
            uri: req.request_uri().unwrap_or_default().to_string(),
            version: "SIP/2.0".into(),
        },
        headers: Vec::new(),
        body: Bytes::new(),
    };
    for (name, value) in [
        ("via", req.header("via")),
        ("max-forwards", Some("70")),
        ("from", req.header("from")),
        ("to", resp.header("to")),
        ("call-id", req.header("call-id")),
    ] {
        ack.push_header(name, value.unwrap_or_default().to_string());
    }
    for route in req.header_values("route") {
        ack.push_header("route", route.to_string());
    }
    let n = req.cseq().map(|c| c.0).unwrap_or(0);
    ack.push_header("cseq", format!("{n} ACK"));
    ack.to_bytes()
}
