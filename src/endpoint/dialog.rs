//! One call's dialog as the endpoint keeps it (RFC 3261 §12): tags, CSeq, remote target,
//! route set, how to reach the caller, and the 2xx retransmission of §13.3.1.4.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::call::driver::CallEvent;
use crate::sip::message::{Message, Method, StartLine};
use crate::sip::response::response_for;
use crate::sip::screen::{ALLOW, SUPPORTED};
use crate::sip::session_timer::SessionTimer;
use crate::sip::transaction::{Timers, TxKey};
use crate::sip::uri::{NameAddr, SipUri};
use crate::transport::Via;

pub use crate::sip::response::new_tag;

pub enum Retransmit {
    Send(Bytes),
    GiveUp,
    NotYet,
    Idle,
}

/// A 2xx to an INVITE resent until its ACK (§13.3.1.4): T1 doubling to T2 over UDP, once
/// at 64·T1 over a reliable transport (where only the give-up matters).
pub struct Pending2xx {
    bytes: Bytes,
    interval: Duration,
    next: Instant,
    give_up: Instant,
    t2: Duration,
}

impl Pending2xx {
    pub fn new(now: Instant, bytes: Bytes, reliable: bool, timers: Timers) -> Pending2xx {
        let first = if reliable { timers.t64() } else { timers.t1 };
        Pending2xx {
            bytes,
            interval: first,
            next: now + first,
            give_up: now + timers.t64(),
            t2: timers.t2,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.next.min(self.give_up)
    }

    /// What is due at `now`: resend, give up (no ACK came), or nothing yet.
    pub fn handle_timer(&mut self, now: Instant) -> Retransmit {
        if now >= self.give_up {
            return Retransmit::GiveUp;
        }
        if now < self.next {
            return Retransmit::NotYet;
        }
        self.interval = (self.interval * 2).min(self.t2);
        self.next = now + self.interval;
        Retransmit::Send(self.bytes.clone())
    }
}

pub struct Dialog {
    pub call_id: String,
    pub remote_tag: String,
    pub local_tag: String,
    pub events: mpsc::Sender<CallEvent>,
    pub invite: Message,
    pub invite_tx: TxKey,
    pub via: Via,
    pub source: SocketAddr,
    pub response_dest: SocketAddr,
    remote_target: String,
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
    // The optional parts are boxed: most dialogs never have them, and inline they would
    // make every call's dialog three times larger (docs/BENCHMARKS.md, memory per call).
    pending_2xx: Option<Box<Pending2xx>>,
    pub pending_reinvite: Option<Box<(TxKey, Message, SocketAddr)>>,
    /// The caller's UPDATE waiting for the call's answer (its server transaction is open).
    pub pending_update: Option<Box<(TxKey, Message)>>,
    /// The session timer (RFC 4028), when the caller supports them.
    pub session_timer: Option<SessionTimer>,
    /// The session description of our last 2xx (a re-INVITE refresh offers it unchanged).
    pub last_sdp: Option<String>,
    /// Our re-INVITE refreshing the session, while it runs.
    pub refresh_invite: Option<Box<RefreshInvite>>,
}

/// Our re-INVITE refresh (RFC 4028 §7.4) of the caller's dialog: its client transaction,
/// and the ACK sent for its 2xx (resent for each retransmitted 2xx).
pub struct RefreshInvite {
    pub branch: String,
    pub cseq: u32,
    pub request: Message,
    pub tx: crate::sip::transaction::ClientInviteTx,
    pub ack: Option<Bytes>,
}

impl Dialog {
    pub fn new(
        invite: &Message,
        via: Via,
        source: SocketAddr,
        invite_tx: TxKey,
        events: mpsc::Sender<CallEvent>,
    ) -> Dialog {
        let remote_target = invite
            .header_values("contact")
            .next()
            .and_then(NameAddr::parse)
            .map(|c| c.uri)
            .or_else(|| invite.from().map(|f| f.uri))
            .unwrap_or_default();
        let response_dest = match via {
            Via::Udp(_) => {
                crate::sip::response::response_target(&response_for(invite, 100, ""), source)
            }
            Via::Tcp(_) => source,
        };
        Dialog {
            call_id: invite.call_id().unwrap_or_default().to_string(),
            remote_tag: invite
                .from()
                .and_then(|f| f.tag().map(str::to_string))
                .unwrap_or_default(),
            local_tag: new_tag(),
            events,
            invite: invite.clone(),
            invite_tx,
            via,
            source,
            response_dest,
            remote_target,
            route_set: invite
                .header_values("record-route")
                .map(str::to_string)
                .collect(),
            local_cseq: 0,
            remote_cseq: invite.cseq().map(|c| c.0).unwrap_or(0),
            pending_2xx: None,
            pending_reinvite: None,
            pending_update: None,
            session_timer: None,
            last_sdp: None,
            refresh_invite: None,
        }
    }

    /// Our answer to an INVITE of this dialog (initial or re-INVITE), with Contact,
    /// Record-Route (§12.1.1), Allow and the SDP body.
    pub fn response_to(
        &self,
        req: &Message,
        status: u16,
        sdp: Option<&str>,
        user_agent: &str,
        local: SocketAddr,
    ) -> Message {
        let mut resp = response_for(req, status, &self.local_tag);
        if (101..300).contains(&status) {
            for rr in req.header_values("record-route") {
                resp.push_header("record-route", rr.to_string());
            }
            resp.push_header("contact", self.contact(local));
            resp.push_header("allow", ALLOW);
            resp.push_header("supported", SUPPORTED);
        }
        resp.push_header("server", user_agent.to_string());
        if let Some(sdp) = sdp {
            resp.push_header("content-type", "application/sdp");
            resp.body = Bytes::copy_from_slice(sdp.as_bytes());
        }
        resp
    }

    /// Our Contact header value for this dialog's transport.
    pub fn contact(&self, local: SocketAddr) -> String {
        let host = match local {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        match self.via {
            Via::Udp(_) => format!("<sip:qonyrau@{host}>"),
            Via::Tcp(_) => format!("<sip:qonyrau@{host};transport=tcp>"),
        }
    }

    /// RFC 3261 §12.2.2: a lower CSeq than the last one is out of order (500).
    pub fn check_remote_cseq(&mut self, req: &Message) -> Result<(), u16> {
        let Some((n, _)) = req.cseq() else {
            return Err(400);
        };
        if matches!(req.method(), Some(Method::Ack | Method::Cancel)) {
            return Ok(());
        }
        if n < self.remote_cseq {
            return Err(500);
        }
        self.remote_cseq = n;
        Ok(())
    }

    pub fn start_2xx_retransmission(&mut self, now: Instant, bytes: Bytes, timers: Timers) {
        let reliable = matches!(self.via, Via::Tcp(_));
        self.pending_2xx = Some(Box::new(Pending2xx::new(now, bytes, reliable, timers)));
    }

    pub fn next_2xx_deadline(&self) -> Option<Instant> {
        self.pending_2xx.as_deref().map(Pending2xx::deadline)
    }

    pub fn handle_2xx_timer(&mut self, now: Instant) -> Retransmit {
        let Some(p) = self.pending_2xx.as_mut() else {
            return Retransmit::Idle;
        };
        let r = p.handle_timer(now);
        if matches!(r, Retransmit::GiveUp) {
            self.pending_2xx = None;
        }
        r
    }

    /// An ACK for our 2xx arrived; stops the retransmission. True when it was awaited.
    pub fn ack_received(&mut self) -> bool {
        self.pending_2xx.take().is_some()
    }

    /// Where in-dialog requests go: the remote target when it names an IP address (UDP),
    /// otherwise back to where the INVITE came from (which is also the TCP connection).
    pub fn request_target(&self) -> SocketAddr {
        match self.via {
            Via::Udp(_) => SipUri::parse(&self.remote_target)
                .and_then(|u| u.socket_addr())
                .unwrap_or(self.source),
            Via::Tcp(_) => self.source,
        }
    }

    /// Build our BYE (§15.1.1) and return it with its branch.
    pub fn bye(&mut self, local: SocketAddr) -> (Message, String) {
        self.request(Method::Bye, local)
    }

    /// A request of ours within the dialog (§12.2.1.1): BYE, or an UPDATE refreshing the
    /// session; returned with its branch.
    pub fn request(&mut self, method: Method, local: SocketAddr) -> (Message, String) {
        self.local_cseq = self.local_cseq.max(1) + 1;
        self.request_numbered(method, self.local_cseq, local)
    }

    /// The ACK for a 2xx to our re-INVITE number `cseq` (§13.2.2.4: a new branch, the
    /// INVITE's CSeq number).
    pub fn ack(&self, cseq: u32, local: SocketAddr) -> Message {
        self.request_numbered(Method::Ack, cseq, local).0
    }

    fn request_numbered(&self, method: Method, cseq: u32, local: SocketAddr) -> (Message, String) {
        let branch = format!("z9hG4bK{}", new_tag());
        let transport = match self.via {
            Via::Udp(_) => "UDP",
            Via::Tcp(_) => "TCP",
        };
        let to = self.invite.header("from").unwrap_or_default().to_string();
        let mut from = self.invite.header("to").unwrap_or_default().to_string();
        if !from.contains("tag=") {
            from.push_str(";tag=");
            from.push_str(&self.local_tag);
        }
        let mut msg = Message {
            start: StartLine::Request {
                method: method.clone(),
                uri: self.remote_target.clone(),
                version: "SIP/2.0".into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        };
        msg.push_header(
            "via",
            format!("SIP/2.0/{transport} {local};branch={branch};rport"),
        );
        for route in &self.route_set {
            msg.push_header("route", route.clone());
        }
        msg.push_header("max-forwards", "70");
        msg.push_header("from", from);
        msg.push_header("to", to);
        msg.push_header("call-id", self.call_id.clone());
        msg.push_header("cseq", format!("{cseq} {method}"));
        (msg, branch)
    }
}
