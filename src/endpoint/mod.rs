//! The SIP endpoint (a driver): one task that screens every inbound message, runs the
//! transaction cores, keeps the dialog table, answers what needs no call (OPTIONS, 405,
//! 481, 503) and routes the rest to call tasks; it also sends what calls ask for (1xx/2xx
//! with 2xx retransmission until the ACK, BYE as a client transaction).
//!
//! All protocol decisions live in `crate::sip` (screening, transactions, responses, UAC
//! legs), `crate::registrar` and `crate::call` (admission, routing, the call core); the
//! endpoint moves messages, keys tables and spawns tasks. Files: this one (inbound
//! dispatch, in-dialog requests, commands, sending, timers), `calls` (new calls, CANCEL),
//! `registration` (REGISTER and INVITE authentication through the registrar task, OPTIONS
//! qualification), `outbound` (legs we place to operators), `dialog`, `timers`.

mod calls;
mod dialog;
mod outbound;
mod registration;
mod session;
mod timers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::call::admission::InfoAnswer;
use crate::call::driver::{CallEvent, CallLinks, EndpointCommand};
use crate::call::events::LegId;
use crate::clock::{monotonic_now as now, sleep_until};
use crate::config::Config;
use crate::http::Health;
use crate::ivr::FlowSet;
use crate::media::engine::MediaEngine;
use crate::media::prompt::PromptLibrary;
use crate::registrar::actor::RegisterJob;
use crate::registrar::qualify::{self, Probe, ProbeResult};
use crate::sip::message::{Message, Method};
use crate::sip::rate_limit::InviteRateLimiter;
use crate::sip::response::{response_for, response_target, stamp_via};
use crate::sip::screen::{screen, Framing, Screened, ACCEPT, ALLOW};
use crate::sip::transaction::{
    ClientNonInviteTx, Reliability, ServerInviteTx, ServerNonInviteTx, Timers, TxAction, TxKey,
};
use crate::telemetry;
use crate::transport::{Inbound, Transports, Via};

use dialog::Dialog;
use timers::{TimerHeap, TimerOwner};

pub struct EndpointParams {
    pub config: Config,
    pub flows: FlowSet,
    pub prompts: Arc<PromptLibrary>,
    pub media: MediaEngine,
    pub transports: Transports,
    pub health: Arc<Health>,
    pub calls_stop: CancellationToken,
    pub tracker: TaskTracker,
    /// The registrar task; without one REGISTER gets 405.
    pub registrar: Option<mpsc::Sender<RegisterJob>>,
    /// What calls reach beyond themselves (event bus, location, presence, media, clock).
    pub links: CallLinks,
}

/// Which server transaction a request opens (RFC 3261 §17.2).
#[derive(Clone, Copy)]
enum TxKind {
    Invite,
    NonInvite,
}

enum ServerTx {
    Invite(ServerInviteTx),
    NonInvite(ServerNonInviteTx),
}

/// Where a transaction's messages go.
#[derive(Clone, Copy)]
struct Route {
    via: Via,
    source: SocketAddr,
}

struct ServerEntry {
    tx: ServerTx,
    route: Route,
    /// For INVITE transactions: the response destination computed from the request.
    dest: SocketAddr,
    /// The call this INVITE created (CANCEL finds it here).
    call: Option<u64>,
}

struct ClientEntry {
    tx: ClientNonInviteTx,
    owner: ClientOwner,
}

/// Whose non-INVITE client transaction it is.
enum ClientOwner {
    /// A call's BYE to the caller.
    Call(u64),
    /// A call's UPDATE refreshing the session (RFC 4028).
    Refresh(u64),
    /// An OPTIONS probe of a registered contact, sent there.
    Qualify {
        probe: Probe,
        via: Via,
        dest: SocketAddr,
    },
}

pub struct Endpoint {
    p: EndpointParams,
    timers: Timers,
    server: HashMap<TxKey, ServerEntry>,
    client: HashMap<String, ClientEntry>,
    /// Boxed for the same reason as the media engine's slots: a table of pointers.
    calls: HashMap<u64, Box<Dialog>>,
    by_dialog: HashMap<(String, String), u64>,
    /// Calls with no inbound dialog (callbacks): where their outbound legs' events go.
    headless: HashMap<u64, mpsc::Sender<CallEvent>>,
    outbound: HashMap<outbound::LegKey, outbound::OutboundLeg>,
    legs: HashMap<(u64, LegId), outbound::LegKey>,
    /// INVITEs to extensions waiting for the registrar's authentication.
    pending_auth: HashMap<TxKey, (Message, Route)>,
    /// Feature-code calls waiting for the ACD's answer: the INVITE, its route, the caller.
    pending_feature: HashMap<TxKey, (Message, Route, String)>,
    /// Each trunk's limit of simultaneous calls (`[trunks.NAME] max_calls`).
    trunk_calls: HashMap<String, crate::trunk::CallLimit>,
    invite_limiter: InviteRateLimiter,
    /// Queue numbers → queue names (a transfer may name one).
    queue_numbers: Arc<std::collections::BTreeMap<String, Arc<str>>>,
    /// Queue names → their music-on-hold classes.
    queue_music: Arc<std::collections::BTreeMap<Arc<str>, Arc<str>>>,
    /// Queue name → its callback key and offer threshold (queues that offer callbacks).
    queue_callbacks: Arc<std::collections::BTreeMap<Arc<str>, crate::call::core::CallbackKey>>,
    heap: TimerHeap,
    next_call: u64,
    cmd_tx: mpsc::Sender<EndpointCommand>,
    cmd_rx: Option<mpsc::Receiver<EndpointCommand>>,
}

impl Endpoint {
    pub fn new(p: EndpointParams) -> Endpoint {
        let trunk_calls = p
            .config
            .trunks
            .iter()
            .map(|t| (t.name.clone(), crate::trunk::CallLimit::new(t.max_calls)))
            .collect();
        let (cmd_tx, cmd_rx) = mpsc::channel(16_384);
        let invite_limiter = InviteRateLimiter::new(p.config.sip.invite_rate.clone());
        let queue_numbers = Arc::new(
            p.config
                .acd
                .queues
                .iter()
                .filter_map(|q| {
                    let number = q.number.clone()?;
                    Some((number, Arc::from(q.config.name.as_str())))
                })
                .collect(),
        );
        let queue_music = Arc::new(
            p.config
                .acd
                .queues
                .iter()
                .map(|q| {
                    (
                        Arc::from(q.config.name.as_str()),
                        Arc::from(q.music_on_hold.as_str()),
                    )
                })
                .collect(),
        );
        let queue_callbacks = Arc::new(
            p.config
                .acd
                .queues
                .iter()
                .filter_map(|q| {
                    let cb = q.callback.as_ref()?;
                    Some((
                        Arc::from(q.config.name.as_str()),
                        crate::call::core::CallbackKey {
                            key: cb.key,
                            offer_after: cb.offer_after,
                        },
                    ))
                })
                .collect(),
        );
        let timers = Timers {
            t1: p.config.sip.t1,
            ..Timers::default()
        };
        Endpoint {
            p,
            timers,
            server: HashMap::new(),
            client: HashMap::new(),
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            headless: HashMap::new(),
            outbound: HashMap::new(),
            legs: HashMap::new(),
            pending_auth: HashMap::new(),
            pending_feature: HashMap::new(),
            trunk_calls,
            invite_limiter,
            queue_numbers,
            queue_music,
            queue_callbacks,
            heap: TimerHeap::default(),
            next_call: 1,
            cmd_tx,
            cmd_rx: Some(cmd_rx),
        }
    }

    /// A sender of commands to this endpoint (for the registrar and call tasks).
    pub fn commands(&self) -> mpsc::Sender<EndpointCommand> {
        self.cmd_tx.clone()
    }

    pub async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, cancel: CancellationToken) {
        let mut commands = self.cmd_rx.take().expect("run once");
        let every = self.p.config.registrar.qualify_every;
        if !every.is_zero() {
            self.heap.push(now() + every, TimerOwner::Qualify);
        }
        loop {
            let deadline = self.heap.next();
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(m) => self.handle_inbound(m).await,
                    None => return,
                },
                cmd = commands.recv() => match cmd {
                    Some(c) => self.handle_command(c).await,
                    None => return,
                },
                _ = sleep_until(deadline) => self.handle_timers().await,
                _ = cancel.cancelled() => return,
            }
        }
    }

    // ---------------------------------------------------------------- inbound

    async fn handle_inbound(&mut self, m: Inbound) {
        let framing = match m.via {
            Via::Udp(_) => Framing::Datagram,
            Via::Tcp(_) => Framing::Stream,
        };
        let route = Route {
            via: m.via,
            source: m.source,
        };
        match screen(&m.data, framing) {
            Screened::Request(mut req) => {
                stamp_via(&mut req, m.source);
                let method = req
                    .method()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default();
                metrics::counter!(telemetry::SIP_REQUESTS, "method" => method).increment(1);
                self.handle_request(req, route).await;
            }
            Screened::Response(resp) => self.handle_response(resp).await,
            Screened::Reject { mut request, error } => {
                metrics::counter!(telemetry::SIP_PARSE_ERRORS, "transport" => m.via.label(), "action" => "rejected").increment(1);
                debug!(error = %error, "request rejected");
                if request.method() == Some(&Method::Ack) {
                    return; // an ACK is never answered
                }
                stamp_via(&mut request, m.source);
                let mut resp = response_for(&request, error.status(), &dialog::new_tag());
                for (name, value) in error.extra_headers() {
                    resp.push_header(name, value);
                }
                self.send_stateless(&request, resp, route).await;
            }
            Screened::Drop(reason) => {
                metrics::counter!(telemetry::SIP_PARSE_ERRORS, "transport" => m.via.label(), "action" => "dropped").increment(1);
                debug!(reason = %reason, source = %m.source, "message dropped");
            }
        }
    }

    async fn handle_request(&mut self, req: Message, route: Route) {
        let method = req
            .method()
            .cloned()
            .unwrap_or(Method::Other(String::new()));
        // ACK: for a non-2xx it belongs to the INVITE transaction; for a 2xx, to the dialog.
        if method == Method::Ack {
            if let Some(key) = TxKey::of_request(&req, "INVITE") {
                if let Some(entry) = self.server.get_mut(&key) {
                    if let ServerTx::Invite(tx) = &mut entry.tx {
                        if tx.has_final() {
                            tx.handle_ack(now());
                            self.drain_server(&key).await;
                            return;
                        }
                    }
                }
            }
            if let Some(call) = self.find_dialog(&req) {
                if let Some(d) = self.calls.get_mut(&call) {
                    if d.ack_received() {
                        let _ = d
                            .events
                            .try_send(CallEvent::Ack(req.body_text().map(str::to_string)));
                    }
                }
                return;
            }
            self.outbound_ack(&req);
            return;
        }
        let Some(key) = TxKey::of_request(&req, method.as_str()) else {
            return; // screening guarantees a Via; nothing to answer without one
        };
        if let Some(entry) = self.server.get_mut(&key) {
            // A retransmission: the transaction resends its last response — over the
            // transport and connection this copy came on (a client that gave up on UDP and
            // retried over TCP must hear back on TCP).
            if entry.route.via != route.via {
                entry.route = route;
                entry.dest = response_dest(&req, route);
            }
            match &mut entry.tx {
                ServerTx::Invite(tx) => tx.handle_retransmission(now()),
                ServerTx::NonInvite(tx) => tx.handle_retransmission(now()),
            }
            self.drain_server(&key).await;
            return;
        }
        let to_tag = req.to().and_then(|t| t.tag().map(str::to_string));
        if to_tag.is_some()
            && method != Method::Cancel
            && self.outbound_request(&req, &key, route).await
        {
            return;
        }
        match method {
            Method::Invite if to_tag.is_none() => self.new_call(req, key, route).await,
            Method::Cancel => self.cancel(req, key, route).await,
            Method::Options if to_tag.is_none() => {
                let mut resp = response_for(&req, 200, &dialog::new_tag());
                resp.push_header("allow", ALLOW);
                resp.push_header("accept", ACCEPT);
                resp.push_header("supported", "");
                self.respond_non_invite(key, route, &req, resp).await;
            }
            Method::Register => self.register(req, key, route).await,
            _ => self.in_dialog(req, method, key, route).await,
        }
    }

    /// A server transaction for `req`, kept under `key` until it terminates; its responses
    /// go back the way the request came (`route`).
    fn open_transaction(
        &mut self,
        key: TxKey,
        req: &Message,
        route: Route,
        kind: TxKind,
        call: Option<u64>,
    ) {
        let reliability = reliability(route.via);
        let tx = match kind {
            TxKind::Invite => {
                ServerTx::Invite(ServerInviteTx::new(now(), reliability, self.timers))
            }
            TxKind::NonInvite => {
                ServerTx::NonInvite(ServerNonInviteTx::new(now(), reliability, self.timers))
            }
        };
        let dest = response_dest(req, route);
        self.server.insert(
            key,
            ServerEntry {
                tx,
                route,
                dest,
                call,
            },
        );
    }

    /// Every response we send names us the same way (`sip.user_agent`).
    fn stamp_server(&self, resp: &mut Message) {
        if resp.header("server").is_none() {
            resp.push_header("server", self.p.config.sip.user_agent.clone());
        }
    }

    fn find_dialog(&self, req: &Message) -> Option<u64> {
        let call_id = req.call_id()?.to_string();
        let remote = req.from()?.tag()?.to_string();
        self.by_dialog.get(&(call_id, remote)).copied()
    }

    async fn in_dialog(&mut self, req: Message, method: Method, key: TxKey, route: Route) {
        let call = self.find_dialog(&req);
        let Some(call) = call.filter(|c| self.calls.contains_key(c)) else {
            let resp = response_for(&req, 481, &dialog::new_tag());
            if method == Method::Invite {
                self.respond_invite_tx(key, route, &req, None, resp, 481)
                    .await;
            } else {
                self.respond_non_invite(key, route, &req, resp).await;
            }
            return;
        };
        let d = self.calls.get_mut(&call).expect("checked");
        if let Err(status) = d.check_remote_cseq(&req) {
            let resp = response_for(&req, status, &d.local_tag);
            self.respond_non_invite(key, route, &req, resp).await;
            return;
        }
        match method {
            Method::Bye => {
                let _ = d.events.try_send(CallEvent::Bye);
                let resp = response_for(&req, 200, &d.local_tag.clone());
                self.respond_non_invite(key, route, &req, resp).await;
            }
            Method::Info => {
                let answer = InfoAnswer::of(&req);
                if let InfoAnswer::Digit(digit) = answer {
                    let _ = d.events.try_send(CallEvent::InfoDigit(digit));
                }
                let mut resp = response_for(&req, answer.status(), &d.local_tag.clone());
                if answer == InfoAnswer::Unsupported {
                    resp.push_header("accept", ACCEPT);
                }
                self.respond_non_invite(key, route, &req, resp).await;
            }
            Method::Update => self.update(call, req, key, route).await,
            Method::Invite => {
                let local_tag = d.local_tag.clone();
                if let Some(resp) = self.session_interval_too_small(&req, &local_tag) {
                    self.respond_invite_tx(key, route, &req, None, resp, 422)
                        .await;
                    return;
                }
                let d = self.calls.get_mut(&call).expect("checked");
                if d.pending_reinvite.is_some() || d.pending_update.is_some() {
                    let resp = response_for(&req, 491, &d.local_tag.clone());
                    self.respond_invite_tx(key, route, &req, None, resp, 491)
                        .await;
                    return;
                }
                let body = req.body_text().map(str::to_string);
                d.pending_reinvite = Some(Box::new((key.clone(), req.clone(), route.source)));
                let _ = d.events.try_send(CallEvent::ReInvite(body));
                self.open_transaction(key, &req, route, TxKind::Invite, Some(call));
            }
            Method::Options => {
                let mut resp = response_for(&req, 200, &d.local_tag.clone());
                resp.push_header("allow", ALLOW);
                resp.push_header("accept", ACCEPT);
                self.respond_non_invite(key, route, &req, resp).await;
            }
            _ => {
                let mut resp = response_for(&req, 405, &d.local_tag.clone());
                resp.push_header("allow", ALLOW);
                self.respond_non_invite(key, route, &req, resp).await;
            }
        }
    }

    async fn handle_response(&mut self, resp: Message) {
        if self.outbound_response(&resp).await || self.refresh_invite_response(&resp).await {
            return;
        }
        let Some((branch, _method)) = TxKey::of_response(&resp) else {
            return;
        };
        let Some(entry) = self.client.get_mut(&branch) else {
            return; // a response that matches nothing is dropped (RFC 3261 §18.1.2)
        };
        entry.tx.handle_response(now(), resp.status().unwrap_or(0));
        self.drain_client(&branch).await;
    }

    // ---------------------------------------------------------------- commands

    async fn handle_command(&mut self, cmd: EndpointCommand) {
        match cmd {
            EndpointCommand::RespondInvite { call, status, sdp } => {
                let Some(d) = self.calls.get(&call) else {
                    return;
                };
                let (key, invite) = (d.invite_tx.clone(), d.invite.clone());
                self.answer_invite(call, key, &invite, status, sdp.as_deref())
                    .await;
            }
            EndpointCommand::RespondUpdate { call, status, sdp } => {
                self.respond_update(call, status, sdp).await
            }
            EndpointCommand::RespondReinvite { call, status, sdp } => {
                let Some((key, req, _)) = self
                    .calls
                    .get_mut(&call)
                    .and_then(|d| d.pending_reinvite.take().map(|p| *p))
                else {
                    return;
                };
                self.answer_invite(call, key, &req, status, sdp.as_deref())
                    .await;
            }
            EndpointCommand::SendBye { call } => {
                let Some(d) = self.calls.get_mut(&call) else {
                    return;
                };
                let local = self.p.transports.local(d.via, d.request_target());
                let (bye, branch) = d.bye(local);
                let bytes = bye.to_bytes();
                let tx = ClientNonInviteTx::new(now(), bytes, reliability(d.via), self.timers);
                metrics::counter!(telemetry::SIP_REQUESTS_SENT, "method" => "BYE").increment(1);
                self.client.insert(
                    branch.clone(),
                    ClientEntry {
                        tx,
                        owner: ClientOwner::Call(call),
                    },
                );
                self.drain_client(&branch).await;
            }
            EndpointCommand::PlaceLeg {
                call,
                leg,
                target,
                sdp,
                caller,
                queue,
                display,
            } => {
                let shown = outbound::Shown {
                    caller,
                    queue,
                    display,
                };
                self.place_leg(call, leg, target, sdp, shown).await
            }
            EndpointCommand::OpenHeadless { events, reply } => {
                let id = self.next_call;
                self.next_call += 1;
                self.headless.insert(id, events);
                if reply.send(id).is_err() {
                    // The asker is gone: nothing will ever close it.
                    self.headless.remove(&id);
                }
            }
            EndpointCommand::CloseHeadless { call } => self.close_headless(call).await,
            EndpointCommand::CancelLeg { call, leg } => self.cancel_leg(call, leg).await,
            EndpointCommand::RespondOperatorReinvite {
                call,
                leg,
                status,
                sdp,
            } => self.answer_operator_reinvite(call, leg, status, sdp).await,
            EndpointCommand::ByeLeg { call, leg } => self.bye_leg(call, leg).await,
            EndpointCommand::NotifyLeg { call, leg, status } => {
                self.notify_leg(call, leg, status).await
            }
            EndpointCommand::FeatureReady { key, prompt } => self.feature_ready(key, prompt).await,
            EndpointCommand::InviteAuthenticated { key, result } => {
                self.invite_authenticated(key, result).await
            }
            EndpointCommand::RespondRequest { key, mut response } => {
                self.stamp_server(&mut response);
                let Some(entry) = self.server.get_mut(&key) else {
                    return; // the transaction is gone (shutdown)
                };
                if let ServerTx::NonInvite(tx) = &mut entry.tx {
                    let status = response.status().unwrap_or(500);
                    metrics::counter!(telemetry::SIP_RESPONSES, "method" => "REGISTER", "code" => status.to_string()).increment(1);
                    tx.respond(now(), status, response.to_bytes());
                }
                self.drain_server(&key).await;
            }
            EndpointCommand::Ended { call, .. } => {
                if let Some(d) = self.calls.remove(&call) {
                    self.by_dialog
                        .remove(&(d.call_id.clone(), d.remote_tag.clone()));
                }
                self.set_active();
            }
        }
    }

    /// Answer an INVITE of dialog `call` (initial or re-INVITE); a 2xx is retransmitted
    /// until its ACK (RFC 3261 §13.3.1.4).
    async fn answer_invite(
        &mut self,
        call: u64,
        key: TxKey,
        req: &Message,
        status: u16,
        sdp: Option<&str>,
    ) {
        let session_headers = if (200..300).contains(&status) {
            self.arm_session_timer(call, req)
        } else {
            Vec::new()
        };
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let local = self.p.transports.local(d.via, d.response_dest);
        let mut resp = d.response_to(req, status, sdp, &self.p.config.sip.user_agent, local);
        for (name, value) in session_headers {
            resp.push_header(name, value);
        }
        if (200..300).contains(&status) {
            if let Some(sdp) = sdp {
                d.last_sdp = Some(sdp.to_string());
            }
            d.start_2xx_retransmission(now(), resp.to_bytes(), self.timers);
            if let Some(at) = d.next_2xx_deadline() {
                self.heap.push(at, TimerOwner::Retransmit2xx(call));
            }
        }
        self.respond_server_invite(&key, resp, status).await;
    }

    fn set_active(&self) {
        let n = self.calls.len();
        metrics::gauge!(telemetry::CALLS_ACTIVE).set(n as f64);
        self.p.health.active_calls.store(n, Ordering::Relaxed);
    }

    // ---------------------------------------------------------------- sending

    async fn respond_non_invite(
        &mut self,
        key: TxKey,
        route: Route,
        req: &Message,
        mut resp: Message,
    ) {
        self.stamp_server(&mut resp);
        let status = resp.status().unwrap_or(0);
        count_response(req, status);
        self.open_transaction(key.clone(), req, route, TxKind::NonInvite, None);
        if let Some(ServerEntry {
            tx: ServerTx::NonInvite(tx),
            ..
        }) = self.server.get_mut(&key)
        {
            tx.respond(now(), status, resp.to_bytes());
        }
        self.drain_server(&key).await;
    }

    /// A final answer to a new INVITE that never becomes a call (503, 481, 500…).
    async fn respond_invite_tx(
        &mut self,
        key: TxKey,
        route: Route,
        req: &Message,
        call: Option<u64>,
        resp: Message,
        status: u16,
    ) {
        self.open_transaction(key.clone(), req, route, TxKind::Invite, call);
        self.respond_server_invite(&key, resp, status).await;
    }

    async fn respond_server_invite(&mut self, key: &TxKey, mut resp: Message, status: u16) {
        self.stamp_server(&mut resp);
        let Some(entry) = self.server.get_mut(key) else {
            return;
        };
        if let ServerTx::Invite(tx) = &mut entry.tx {
            metrics::counter!(telemetry::SIP_RESPONSES, "method" => "INVITE", "code" => status.to_string()).increment(1);
            tx.respond(now(), status, resp.to_bytes());
        }
        self.drain_server(key).await;
    }

    /// Answer a request that failed screening, without keeping a transaction.
    async fn send_stateless(&mut self, req: &Message, mut resp: Message, route: Route) {
        self.stamp_server(&mut resp);
        count_response(req, resp.status().unwrap_or(0));
        let dest = response_dest(req, route);
        self.send(route.via, dest, resp.to_bytes()).await;
    }

    async fn drain_server(&mut self, key: &TxKey) {
        let Some(entry) = self.server.get_mut(key) else {
            return;
        };
        let (via, dest) = (entry.route.via, entry.dest);
        let mut sends = Vec::new();
        let mut terminated = false;
        let mut timed_out = false;
        loop {
            let action = match &mut entry.tx {
                ServerTx::Invite(tx) => tx.poll_action(),
                ServerTx::NonInvite(tx) => tx.poll_action(),
            };
            match action {
                Some(TxAction::Send(b)) => sends.push(b),
                Some(TxAction::Terminated) => terminated = true,
                Some(TxAction::TimedOut) => timed_out = true,
                Some(_) => {}
                None => break,
            }
        }
        let next = match &entry.tx {
            ServerTx::Invite(tx) => tx.poll_timeout(),
            ServerTx::NonInvite(tx) => tx.poll_timeout(),
        };
        let call = entry.call;
        if terminated {
            self.server.remove(key);
        } else if let Some(at) = next {
            self.heap.push(at, TimerOwner::Server(key.clone()));
        }
        if timed_out {
            // No ACK for our error response: nothing to tell a call that already ended.
            debug!(?call, "INVITE transaction timed out waiting for ACK");
        }
        for b in sends {
            self.send(via, dest, b).await;
        }
    }

    async fn drain_client(&mut self, branch: &str) {
        let Some(entry) = self.client.get_mut(branch) else {
            return;
        };
        let mut sends = Vec::new();
        let mut outcome = None;
        let mut terminated = false;
        while let Some(a) = entry.tx.poll_action() {
            match a {
                TxAction::Send(b) => sends.push(b),
                TxAction::Final(code) => outcome = Some(ProbeResult::Answered(code)),
                TxAction::TimedOut => outcome = Some(ProbeResult::TimedOut),
                TxAction::Terminated => terminated = true,
                TxAction::Provisional(_) => {}
            }
        }
        let next = entry.tx.poll_timeout();
        let target = match &entry.owner {
            ClientOwner::Call(call) => {
                let call = *call;
                if outcome.is_some() {
                    if let Some(d) = self.calls.get(&call) {
                        let _ = d.events.try_send(CallEvent::ByeCompleted);
                    }
                }
                self.calls.get(&call).map(|d| (d.via, d.request_target()))
            }
            ClientOwner::Refresh(call) => {
                let call = *call;
                match outcome {
                    Some(ProbeResult::Answered(code)) => self.refresh_answered(call, code),
                    Some(ProbeResult::TimedOut) => self.refresh_answered(call, 408),
                    None => {}
                }
                self.calls.get(&call).map(|d| (d.via, d.request_target()))
            }
            ClientOwner::Qualify { probe, via, dest } => {
                if let Some(result) = outcome {
                    let ok = qualify::reachable(result);
                    if !ok {
                        debug!(extension = %probe.extension, "contact did not answer OPTIONS: not called until it does");
                    }
                    self.p
                        .links
                        .location
                        .set_reachable(&probe.extension, &probe.contact, ok);
                }
                Some((*via, *dest))
            }
        };
        if terminated {
            self.client.remove(branch);
        } else if let Some(at) = next {
            self.heap.push(at, TimerOwner::Client(branch.to_string()));
        }
        if let Some((via, dest)) = target {
            for b in sends {
                self.send(via, dest, b).await;
            }
        }
    }

    async fn send(&self, via: Via, dest: SocketAddr, bytes: Bytes) {
        if let Err(e) = self.p.transports.send(via, dest, bytes).await {
            debug!(error = %e, %dest, "SIP send failed");
        }
    }

    // ---------------------------------------------------------------- timers

    async fn handle_timers(&mut self) {
        let t = now();
        while let Some(owner) = self.heap.pop_due(t) {
            match owner {
                TimerOwner::Server(key) => {
                    let Some(entry) = self.server.get_mut(&key) else {
                        continue;
                    };
                    match &mut entry.tx {
                        ServerTx::Invite(tx) => tx.handle_timeout(t),
                        ServerTx::NonInvite(tx) => tx.handle_timeout(t),
                    }
                    self.drain_server(&key).await;
                }
                TimerOwner::Outbound(key) => self.outbound_timer(key).await,
                TimerOwner::Outbound2xx(key) => self.outbound_2xx_timer(key).await,
                TimerOwner::Qualify => self.qualify_contacts().await,
                TimerOwner::Session(call) => self.session_timer_due(call, t).await,
                TimerOwner::RefreshInvite(call) => self.refresh_invite_timer(call).await,
                TimerOwner::Client(branch) => {
                    let Some(entry) = self.client.get_mut(&branch) else {
                        continue;
                    };
                    entry.tx.handle_timeout(t);
                    self.drain_client(&branch).await;
                }
                TimerOwner::Retransmit2xx(call) => {
                    let Some(d) = self.calls.get_mut(&call) else {
                        continue;
                    };
                    match d.handle_2xx_timer(t) {
                        dialog::Retransmit::Send(bytes) => {
                            let (via, dest) = (d.via, d.response_dest);
                            if let Some(at) = d.next_2xx_deadline() {
                                self.heap.push(at, TimerOwner::Retransmit2xx(call));
                            }
                            self.send(via, dest, bytes).await;
                        }
                        dialog::Retransmit::GiveUp => {
                            let _ = d.events.try_send(CallEvent::AckTimeout);
                        }
                        dialog::Retransmit::NotYet => {
                            if let Some(at) = d.next_2xx_deadline() {
                                self.heap.push(at, TimerOwner::Retransmit2xx(call));
                            }
                        }
                        dialog::Retransmit::Idle => {}
                    }
                }
            }
        }
    }
}

fn reliability(via: Via) -> Reliability {
    match via {
        Via::Udp(_) => Reliability::Unreliable,
        Via::Tcp(_) => Reliability::Reliable,
    }
}

/// UDP responses follow Via/received/rport; TCP responses go back on the connection.
fn response_dest(req: &Message, route: Route) -> SocketAddr {
    match route.via {
        // A response carries the request's (stamped) top Via: read it from the request.
        Via::Udp(_) => response_target(req, route.source),
        Via::Tcp(_) => route.source,
    }
}

fn count_response(req: &Message, status: u16) {
    let method = req
        .method()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    metrics::counter!(telemetry::SIP_RESPONSES, "method" => method, "code" => status.to_string())
        .increment(1);
}

#[cfg(test)]
#[path = "paused_tests.rs"]
mod paused_tests;
