//! Outbound legs in the endpoint (driver side): the calls we place to operators' contacts.
//! Each leg is a [`OutboundCall`] core (`crate::sip::uac`) keyed by its Call-ID and our From
//! tag; the endpoint routes responses and in-dialog requests to it, runs its timers, sends
//! what it emits to the contact's address or TCP connection, and passes its events to the
//! call task that owns the leg. It decides nothing about the call.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::call::dial::DialTarget;
use crate::call::driver::CallEvent;
use crate::call::events::LegId;
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Reach;
use crate::sip::response::response_for;
use crate::sip::transaction::TxKey;
use crate::sip::uac::{
    DigestCredentials, InDialog, OutboundAction, OutboundCall, OutboundEvent, OutboundParams,
    Outcome, Transport,
};
use crate::sip::uri::SipUri;
use crate::telemetry;
use crate::transport::{ConnId, Via};
use crate::trunk::CallPermit;

use super::dialog::{new_tag, Pending2xx, Retransmit};
use super::timers::TimerOwner;
use super::{now, Endpoint, Route, TxKind};

/// Who the far side sees as calling: the From user, a queue's offer, a display override.
pub(super) struct Shown {
    pub caller: String,
    pub queue: Option<crate::call::core::QueueOffer>,
    pub display: Option<String>,
}

/// (Call-ID, our From tag): how responses and the operator's requests find a leg.
pub(super) type LegKey = (String, String);

pub(super) struct OutboundLeg {
    core: OutboundCall,
    call: u64,
    leg: LegId,
    via: Via,
    dest: SocketAddr,
    /// The operator's re-INVITE waiting for the call's answer.
    pending_reinvite: Option<(TxKey, Message)>,
    /// Our 2xx to their re-INVITE, resent until their ACK (RFC 3261 §13.3.1.4).
    pending_2xx: Option<Pending2xx>,
    /// Our Contact, for the 200 to a re-INVITE.
    contact: String,
    /// A leg through a trunk holds one of its places until it ends.
    trunk: Option<(String, CallPermit)>,
}

impl Endpoint {
    pub(super) async fn place_leg(
        &mut self,
        call: u64,
        leg: LegId,
        target: DialTarget,
        sdp: String,
        shown: Shown,
    ) {
        let Shown {
            caller,
            queue,
            display: shown_display,
        } = shown;
        let (via, dest, transport) = match target.reach {
            Reach::Udp(addr) => (self.p.transports.udp_toward(addr), addr, Transport::Udp),
            Reach::Tcp { source, conn } => (Via::Tcp(ConnId(conn)), source, Transport::Tcp),
        };
        // A trunk's leg: its caller ID, its credentials, and a place under its limit (none
        // free: the leg fails at once as unavailable, like a 503 from the carrier).
        let trunk = match &target.trunk {
            Some(name) => {
                let config = self.p.config.trunks.iter().find(|t| *t.name == **name);
                let permit = self
                    .trunk_calls
                    .get_mut(&**name)
                    .and_then(|limit| limit.try_acquire());
                match (config, permit) {
                    (Some(config), Some(permit)) => Some((config.clone(), permit)),
                    (_, permit) => {
                        if let Some(permit) = permit {
                            self.release_trunk(name, permit);
                        }
                        tracing::warn!(trunk = %name, "trunk at its call limit (or unknown): leg not placed");
                        metrics::counter!(telemetry::TRUNK_LIMITED, "trunk" => name.to_string())
                            .increment(1);
                        if let Some(events) = self.call_events(call) {
                            let _ = events.try_send(CallEvent::Operator {
                                leg,
                                event: Box::new(OutboundEvent::Failed(Outcome::Unavailable)),
                            });
                        }
                        return;
                    }
                }
            }
            None => None,
        };
        let local = self.p.transports.local(via, dest);
        let host = SipUri::parse(&target.contact)
            .map(|u| u.host)
            .unwrap_or_else(|| dest.ip().to_string());
        let caller_user = if caller.is_empty() {
            "anonymous"
        } else {
            caller.as_str()
        };
        // A plain phone shows the display name: the caller, and for a queue's offer the
        // queue and the wait so far; the header is for consoles.
        let (display, extra_headers) = match (&queue, shown_display) {
            _ if trunk.is_some() => (String::new(), Vec::new()),
            (_, Some(shown)) => (shown, Vec::new()),
            (Some(q), None) => (
                format!(
                    "{} {} {}:{:02}",
                    caller_user,
                    q.queue,
                    q.waited_s / 60,
                    q.waited_s % 60
                ),
                vec![(
                    "X-Qonyrau-Queue".to_string(),
                    format!("{};waited={}", q.queue, q.waited_s),
                )],
            ),
            (None, None) => (caller_user.to_string(), Vec::new()),
        };
        let contact = match transport {
            Transport::Udp => format!("<sip:qonyrau@{local}>"),
            Transport::Tcp => format!("<sip:qonyrau@{local};transport=tcp>"),
        };
        let from = match &trunk {
            // The carrier sees the number we present, nothing of the caller's.
            Some((t, _)) => format!("<sip:{}@{local}>", uri_user(&t.caller_id)),
            None => format!(
                "\"{}\" <sip:{}@{local}>",
                display.replace(['"', '\\'], ""),
                uri_user(caller_user)
            ),
        };
        let credentials = trunk.as_ref().and_then(|(t, _)| {
            t.credentials()
                .map(|(username, password)| DigestCredentials {
                    username: username.to_string(),
                    password: password.to_string(),
                    realm: t.realm.clone(),
                })
        });
        let params = OutboundParams {
            request_uri: target.contact.clone(),
            from,
            to: format!("<sip:{}@{host}>", target.extension),
            contact,
            local,
            transport,
            sdp_offer: sdp,
            user_agent: self.p.config.sip.user_agent.clone(),
            extra_headers,
            call_id: format!("{}@qonyrau", new_tag()),
            from_tag: new_tag(),
            credentials,
        };
        let key: LegKey = (params.call_id.clone(), params.from_tag.clone());
        let contact = params.contact.clone();
        let core = OutboundCall::new(now(), params, self.timers);
        metrics::counter!(telemetry::SIP_REQUESTS_SENT, "method" => "INVITE").increment(1);
        self.outbound.insert(
            key.clone(),
            OutboundLeg {
                core,
                call,
                leg,
                via,
                dest,
                pending_reinvite: None,
                pending_2xx: None,
                contact,
                trunk: trunk.map(|(t, permit)| (t.name, permit)),
            },
        );
        self.legs.insert((call, leg), key.clone());
        self.drain_outbound(&key).await;
    }

    pub(super) async fn cancel_leg(&mut self, call: u64, leg: LegId) {
        let Some(key) = self.legs.get(&(call, leg)).cloned() else {
            return;
        };
        if let Some(l) = self.outbound.get_mut(&key) {
            l.core.cancel(now());
        }
        self.drain_outbound(&key).await;
    }

    /// The call's answer to the operator's pending re-INVITE on `leg`.
    pub(super) async fn answer_operator_reinvite(
        &mut self,
        call: u64,
        leg: LegId,
        status: u16,
        sdp: Option<String>,
    ) {
        let Some(key) = self.legs.get(&(call, leg)).cloned() else {
            return;
        };
        let Some((tx_key, req)) = self
            .outbound
            .get_mut(&key)
            .and_then(|l| l.pending_reinvite.take().map(|p| (p, l.contact.clone())))
            .map(|((k, r), contact)| (k, (r, contact)))
        else {
            return;
        };
        let (req, contact) = req;
        let mut resp = response_for(&req, status, &key.1);
        if let Some(sdp) = sdp {
            resp.push_header("contact", contact);
            resp.push_header("content-type", "application/sdp");
            resp.body = bytes::Bytes::from(sdp);
        }
        if (200..300).contains(&status) {
            self.stamp_server(&mut resp);
            if let Some(l) = self.outbound.get_mut(&key) {
                let reliable = !matches!(l.via, Via::Udp(_));
                let p = Pending2xx::new(now(), resp.to_bytes(), reliable, self.timers);
                self.heap
                    .push(p.deadline(), TimerOwner::Outbound2xx(key.clone()));
                l.pending_2xx = Some(p);
            }
        }
        self.respond_server_invite(&tx_key, resp, status).await;
    }

    /// An ACK from an operator's phone: the one to our 200 for their re-INVITE stops its
    /// resending and may carry their answer to our offer (the call decides what it
    /// means). `false` when it belongs to no outbound leg.
    pub(super) fn outbound_ack(&mut self, req: &Message) -> bool {
        let Some(leg_key) = leg_key_of_request(req) else {
            return false;
        };
        let Some(l) = self.outbound.get_mut(&leg_key) else {
            return false;
        };
        if !l.core.matches(req) {
            return false;
        }
        if l.pending_2xx.take().is_some() {
            let (call, leg) = (l.call, l.leg);
            if let Some(events) = self.call_events(call) {
                let body = req.body_text().map(str::to_string);
                let _ = events.try_send(CallEvent::OperatorAck { leg, body });
            }
        }
        true
    }

    /// Our 2xx to the operator's re-INVITE is due for a resend, or its ACK never came.
    pub(super) async fn outbound_2xx_timer(&mut self, key: LegKey) {
        let Some(l) = self.outbound.get_mut(&key) else {
            return;
        };
        let Some(p) = l.pending_2xx.as_mut() else {
            return;
        };
        match p.handle_timer(now()) {
            Retransmit::Send(bytes) => {
                let deadline = p.deadline();
                let (via, dest) = (l.via, l.dest);
                self.heap.push(deadline, TimerOwner::Outbound2xx(key));
                if let Err(e) = self.p.transports.send(via, dest, bytes).await {
                    tracing::debug!(error = %e, %dest, "2xx resend failed");
                }
            }
            Retransmit::GiveUp => {
                l.pending_2xx = None;
                let (call, leg) = (l.call, l.leg);
                if let Some(events) = self.call_events(call) {
                    let _ = events.try_send(CallEvent::OperatorAckTimeout { leg });
                }
            }
            Retransmit::NotYet => {
                let deadline = p.deadline();
                self.heap.push(deadline, TimerOwner::Outbound2xx(key));
            }
            Retransmit::Idle => {}
        }
    }

    pub(super) async fn bye_leg(&mut self, call: u64, leg: LegId) {
        let Some(key) = self.legs.get(&(call, leg)).cloned() else {
            return;
        };
        if let Some(l) = self.outbound.get_mut(&key) {
            l.core.bye(now());
        }
        self.drain_outbound(&key).await;
    }

    /// NOTIFY the operator's phone on `leg` of its transfer (REFER) progress.
    pub(super) async fn notify_leg(&mut self, call: u64, leg: LegId, status: u16) {
        let Some(key) = self.legs.get(&(call, leg)).cloned() else {
            return;
        };
        if let Some(l) = self.outbound.get_mut(&key) {
            l.core.notify_refer(now(), status);
        }
        self.drain_outbound(&key).await;
    }

    /// A response to one of our outbound legs' requests; `false` when it is not theirs.
    pub(super) async fn outbound_response(&mut self, resp: &Message) -> bool {
        let Some(key) = leg_key_of_response(resp) else {
            return false;
        };
        let Some(l) = self.outbound.get_mut(&key) else {
            return false;
        };
        l.core.handle_response(now(), resp);
        self.drain_outbound(&key).await;
        true
    }

    /// An in-dialog request from an operator's phone (BYE, re-INVITE…); `false` when it
    /// belongs to no outbound leg.
    pub(super) async fn outbound_request(
        &mut self,
        req: &Message,
        key: &TxKey,
        route: Route,
    ) -> bool {
        let Some(leg_key) = leg_key_of_request(req) else {
            return false;
        };
        let Some(l) = self.outbound.get_mut(&leg_key) else {
            return false;
        };
        let verdict = l.core.handle_request(now(), req);
        let l = &*l;
        match verdict {
            InDialog::NotOurs => return false,
            InDialog::Respond(resp) => {
                // The answer first: a REFER's 202 goes out before its first NOTIFY.
                self.respond_non_invite(key.clone(), route, req, resp).await;
                self.drain_outbound(&leg_key).await;
            }
            InDialog::PassUp => {
                // The re-INVITE is the call's to answer (ACKs come through `outbound_ack`).
                if req.method() == Some(&Method::Invite) {
                    // Hold, resume or a new address: the call decides; the answer comes
                    // back as `RespondOperatorReinvite`.
                    let (call, leg) = (l.call, l.leg);
                    let Some(events) = self.call_events(call) else {
                        let resp = response_for(req, 481, &leg_key.1);
                        self.respond_invite_tx(key.clone(), route, req, None, resp, 481)
                            .await;
                        return true;
                    };
                    let body = req.body_text().map(str::to_string);
                    if events
                        .try_send(CallEvent::OperatorReinvite { leg, body })
                        .is_err()
                    {
                        let resp = response_for(req, 500, &leg_key.1);
                        self.respond_invite_tx(key.clone(), route, req, None, resp, 500)
                            .await;
                        return true;
                    }
                    self.open_transaction(key.clone(), req, route, TxKind::Invite, None);
                    if let Some(l) = self.outbound.get_mut(&leg_key) {
                        l.pending_reinvite = Some((key.clone(), req.clone()));
                    }
                }
            }
        }
        true
    }

    pub(super) async fn outbound_timer(&mut self, key: LegKey) {
        let Some(l) = self.outbound.get_mut(&key) else {
            return;
        };
        l.core.handle_timeout(now());
        self.drain_outbound(&key).await;
    }

    async fn drain_outbound(&mut self, key: &LegKey) {
        let Some(l) = self.outbound.get_mut(key) else {
            return;
        };
        let (via, dest, call, leg) = (l.via, l.dest, l.call, l.leg);
        let mut sends: Vec<Bytes> = Vec::new();
        let mut events: Vec<OutboundEvent> = Vec::new();
        while let Some(a) = l.core.poll_action() {
            match a {
                OutboundAction::Send(b) => sends.push(b),
                OutboundAction::Event(e) => events.push(e),
            }
        }
        let next = l.core.poll_timeout();
        let mut finished = l.core.is_ended() && next.is_none();
        if finished {
            self.forget_leg(key, call, leg);
        } else if let Some(at) = next {
            self.heap.push(at, TimerOwner::Outbound(key.clone()));
        }
        for b in sends {
            if let Err(e) = self.p.transports.send(via, dest, b).await {
                tracing::debug!(error = %e, %dest, "outbound leg send failed");
                if !finished && matches!(via, Via::Tcp(_)) {
                    // The contact's TCP connection is gone: nothing more can reach it.
                    self.forget_leg(key, call, leg);
                    events.push(OutboundEvent::Failed(Outcome::Unavailable));
                    finished = true;
                }
            }
        }
        if let Some(sink) = self.call_events(call) {
            for event in events {
                let _ = sink.try_send(CallEvent::Operator {
                    leg,
                    event: Box::new(event),
                });
            }
        }
    }
}

impl Endpoint {
    /// Where call `call`'s events go: its inbound dialog's task, or a headless call's
    /// (a callback, whose legs are all ours).
    pub(super) fn call_events(&self, call: u64) -> Option<&mpsc::Sender<CallEvent>> {
        self.calls
            .get(&call)
            .map(|d| &d.events)
            .or_else(|| self.headless.get(&call))
    }

    /// Forget a headless call: what still rings is cancelled, what is answered hung up
    /// (`bye` is a CANCEL before the answer and a no-op once the leg ended); the UAC cores
    /// finish on their own and their events go nowhere.
    pub(super) async fn close_headless(&mut self, call: u64) {
        if self.headless.remove(&call).is_none() {
            return;
        }
        let mut keys: Vec<(LegId, LegKey)> = self
            .legs
            .iter()
            .filter(|((c, _), _)| *c == call)
            .map(|((_, leg), key)| (*leg, key.clone()))
            .collect();
        keys.sort_by_key(|(leg, _)| leg.0);
        for (_, key) in keys {
            if let Some(l) = self.outbound.get_mut(&key) {
                l.core.bye(now());
            }
            self.drain_outbound(&key).await;
        }
    }

    /// The leg is over: forget it, and give its trunk place back.
    fn forget_leg(&mut self, key: &LegKey, call: u64, leg: LegId) {
        if let Some(l) = self.outbound.remove(key) {
            if let Some((name, permit)) = l.trunk {
                self.release_trunk(&name, permit);
            }
        }
        self.legs.remove(&(call, leg));
    }

    fn release_trunk(&mut self, name: &str, permit: CallPermit) {
        if let Some(limit) = self.trunk_calls.get_mut(name) {
            limit.release(permit);
        }
    }
}

/// The user part for a From URI: digits, letters and `+` pass; anything else is dropped.
fn uri_user(caller: &str) -> String {
    let u: String = caller
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
        .collect();
    if u.is_empty() {
        "anonymous".into()
    } else {
        u
    }
}

fn leg_key_of_response(resp: &Message) -> Option<LegKey> {
    let call_id = resp.call_id()?.to_string();
    let ours = resp.from()?.tag()?.to_string();
    Some((call_id, ours))
}

fn leg_key_of_request(req: &Message) -> Option<LegKey> {
    let call_id = req.call_id()?.to_string();
    let ours = req.to()?.tag()?.to_string();
    Some((call_id, ours))
}
