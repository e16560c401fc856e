//! One callback call's task (a driver): it runs the sans-IO [`CallbackCall`] against the SIP
//! endpoint and the media engine, as [`crate::call::driver::CallTask`] runs an inbound call.
//! A callback call has no inbound dialog: the endpoint gives it a *headless* call id
//! ([`EndpointCommand::OpenHeadless`]) under which both legs are placed and their events
//! come back, and forgets it at the end ([`EndpointCommand::CloseHeadless`], which also
//! cancels or hangs up any leg still up).
//!
//! **Legs.** The customer is endpoint leg [`CUSTOMER_LEG`] (0). The agent's extension is
//! rung on every registered contact at once (parallel forking, [`Fork`], as an inbound
//! call's dial does) on endpoint legs 1, 2, …; the first to answer is the agent's leg, the
//! others are cancelled, and to the core they are all one [`AGENT_LEG`]. Each side has its
//! own media leg (on one worker, so the bridge needs no thread hop); our SDP offer names its
//! port, and the answer starts it.
//!
//! **Re-INVITEs** (the agent's hold, a carrier's refresh) are answered here: an offer is
//! answered from the side's media port and moves its media; an offerless one gets our
//! offer and its ACK's answer moves the media. Hold is relayed as it is (no music on hold).
//!
//! The task decides nothing about the callback: reports and the end go to the owner through
//! `outcomes` ([`CallbackCallOutcome`]); facts go on the event bus.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::call::dial::{trunk_target, DialTarget, Fork, ForkAction};
use crate::call::driver::{CallEvent, EndpointCommand};
use crate::call::events::{self, CallFact, EventBus, LegId};
use crate::callback::book::CallbackId;
use crate::callback::call::{
    CallbackCall, CallbackCallAction, CallbackEnd, CallbackReport, AGENT_LEG, CUSTOMER_LEG,
};
use crate::clock::{monotonic_now as now, sleep_until, Clock};
use crate::ivr::{DialResult, PlayId};
use crate::media::engine::{LegCommand, LegHandle, MediaEngine};
use crate::media::leg::LegEvent;
use crate::media::prompt::PromptLibrary;
use crate::media::rtcp::LegQuality;
use crate::registrar::Location;
use crate::sdp;
use crate::sip::uac::{OutboundEvent, Outcome};

/// The first endpoint leg of the agent's fork (the customer's is 0).
const FIRST_AGENT_LEG: u64 = AGENT_LEG.0;

/// What a callback call reaches beyond itself.
#[derive(Clone)]
pub struct CallbackCallLinks {
    pub endpoint: mpsc::Sender<EndpointCommand>,
    pub media: MediaEngine,
    pub prompts: Arc<PromptLibrary>,
    /// The language of the prompts (`kk`, `ru`, `en`).
    pub language: String,
    pub location: Location,
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    /// The trunk the customer is called through.
    pub trunk: Arc<crate::config::TrunkConfig>,
    /// The callback's queue, for the agent's display.
    pub queue: Arc<str>,
    /// The server is stopping (`EndpointParams::calls_stop`): cancel what rings, hang up
    /// what is answered.
    pub stop: CancellationToken,
    /// Who is in a call: the agent is busy for other calls (a flow's plain dial, a
    /// direct call) while its callback call lasts.
    pub presence: crate::call::presence::Presence,
}

/// What the owner (the callback service) learns: the core's reports, then its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackCallOutcome {
    Report(CallbackId, CallbackReport),
    Finished(CallbackId, CallbackEnd),
}

pub struct CallbackCallTask {
    pub call: CallbackCall,
    pub links: CallbackCallLinks,
    pub outcomes: mpsc::UnboundedSender<CallbackCallOutcome>,
}

/// One side's media and SDP state.
struct Side {
    media: Option<LegHandle>,
    /// The play whose `PromptDone` the core waits for.
    playing: Option<PlayId>,
    /// Our 200 to an offerless re-INVITE carried an offer: the ACK answers it.
    reoffer: bool,
    session: u64,
    version: u64,
}

impl Side {
    fn new(media: Option<LegHandle>, session: u64) -> Side {
        Side {
            media,
            playing: None,
            reoffer: false,
            session,
            version: 1,
        }
    }

    fn send(&self, cmd: LegCommand) {
        if let Some(leg) = &self.media {
            if leg.send(cmd).is_err() {
                warn!("media engine overloaded; command dropped");
            }
        }
    }

    fn port(&self) -> Option<u16> {
        self.media.as_ref().map(|l| l.local_port)
    }
}

struct Driver {
    call: CallbackCall,
    links: CallbackCallLinks,
    outcomes: mpsc::UnboundedSender<CallbackCallOutcome>,
    /// The headless call id; `None` when the endpoint could not open one (it is gone).
    id: Option<u64>,
    events: mpsc::Receiver<CallEvent>,
    agent: Side,
    customer: Side,
    /// The agent's contacts being rung (or the one that answered).
    fork: Option<Fork>,
    /// How the agent's contacts failed, for the core's `LegFailed`.
    agent_failures: Vec<Outcome>,
    next_play: u32,
    stopping: bool,
}

impl CallbackCallTask {
    pub async fn run(self) {
        let CallbackCallTask {
            call,
            links,
            outcomes,
        } = self;
        // Reserved for this call from the first ring to the end.
        let _agent_busy = links.presence.enter(Arc::clone(call.agent_extension()));
        let (events_tx, events) = mpsc::channel(64);
        let (reply, id) = oneshot::channel();
        let open = EndpointCommand::OpenHeadless {
            events: events_tx,
            reply,
        };
        let id = match links.endpoint.send(open).await {
            Ok(()) => id.await.ok(),
            Err(_) => None,
        };
        let agent_media = links
            .media
            .allocate_leg()
            .map_err(|e| warn!(error = %e, "no media leg for the agent"))
            .ok();
        let customer_media = agent_media.as_ref().and_then(|a| {
            links
                .media
                .allocate_leg_near(a)
                .map_err(|e| warn!(error = %e, "no media leg for the customer"))
                .ok()
        });
        // Origin session ids unique per leg of this call (RFC 4566 §5.2).
        let session = id.unwrap_or(0) << 8;
        let mut driver = Driver {
            call,
            links,
            outcomes,
            id,
            events,
            agent: Side::new(agent_media, session + AGENT_LEG.0),
            customer: Side::new(customer_media, session + CUSTOMER_LEG.0),
            fork: None,
            agent_failures: Vec::new(),
            next_play: 0,
            stopping: false,
        };
        if id.is_none() {
            warn!("the endpoint is gone: the callback call cannot be placed");
            driver.stopping = true;
            driver.call.shut_down(now());
        }
        info!(callback = driver.call.callback().0, call = ?id, "callback call");
        driver.run().await;
        driver.close().await;
    }
}

/// The next event of an optional media leg (pending forever when there is none).
async fn recv_opt(leg: Option<&mut LegHandle>) -> Option<LegEvent> {
    match leg {
        Some(l) => match l.events.recv().await {
            Some(ev) => Some(ev),
            None => std::future::pending().await,
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

impl Driver {
    async fn run(&mut self) {
        loop {
            while let Some(action) = self.call.poll_action() {
                if self.perform(action).await {
                    return;
                }
            }
            if self.call.is_finished() {
                return; // defensive: `Finished` is always the last action
            }
            self.next_event().await;
        }
    }

    /// Forget the headless call (the endpoint ends any leg still up) and the media legs.
    async fn close(&mut self) {
        if let Some(call) = self.id {
            let _ = self
                .links
                .endpoint
                .send(EndpointCommand::CloseHeadless { call })
                .await;
        }
        // Dropping the handles closes the legs (`finish` already did at `Ended`).
        self.agent.media = None;
        self.customer.media = None;
    }

    async fn next_event(&mut self) {
        let deadline = self.call.poll_timeout();
        tokio::select! {
            ev = self.events.recv() => match ev {
                Some(CallEvent::Operator { leg, event }) => self.leg_event(leg, *event).await,
                Some(CallEvent::OperatorReinvite { leg, body }) => self.reinvite(leg, body).await,
                Some(CallEvent::OperatorAck { leg, body }) => self.reinvite_ack(leg, body.as_deref()).await,
                Some(CallEvent::OperatorAckTimeout { leg }) => {
                    info!(leg = leg.0, "no ACK to our 200 for a re-INVITE: the phone is gone");
                    self.side_gone(leg).await;
                }
                Some(other) => debug!(event = ?other, "not for a callback call"),
                None => {
                    // The endpoint is gone (shutdown): nothing more can be signalled.
                    if !self.stopping {
                        self.stopping = true;
                        self.call.shut_down(now());
                    }
                }
            },
            ev = recv_opt(self.agent.media.as_mut()) => self.media_event(AGENT_LEG, ev).await,
            ev = recv_opt(self.customer.media.as_mut()) => self.media_event(CUSTOMER_LEG, ev).await,
            _ = sleep_until(deadline) => self.call.handle_timeout(now()),
            _ = self.links.stop.cancelled(), if !self.stopping => {
                self.stopping = true;
                self.call.shut_down(now());
            }
        }
    }

    /// Perform one of the core's actions; `true` once it is `Finished`.
    async fn perform(&mut self, action: CallbackCallAction) -> bool {
        let callback = self.call.callback();
        match action {
            CallbackCallAction::RingAgent { extension } => self.ring_agent(&extension).await,
            CallbackCallAction::PlayToAgent { prompts } => self.play(AGENT_LEG, &prompts),
            CallbackCallAction::PlayToCustomer { prompts } => self.play(CUSTOMER_LEG, &prompts),
            CallbackCallAction::DialCustomer { number } => self.dial_customer(&number).await,
            CallbackCallAction::CancelAgent => {
                if let Some(fork) = &mut self.fork {
                    fork.abandon();
                }
                self.drain_fork().await;
            }
            CallbackCallAction::CancelCustomer => {
                self.command(|call| EndpointCommand::CancelLeg {
                    call,
                    leg: CUSTOMER_LEG,
                })
                .await
            }
            CallbackCallAction::HangUpAgent => {
                if let Some(leg) = self.agent_leg() {
                    self.command(|call| EndpointCommand::ByeLeg { call, leg })
                        .await;
                }
            }
            CallbackCallAction::HangUpCustomer => {
                self.command(|call| EndpointCommand::ByeLeg {
                    call,
                    leg: CUSTOMER_LEG,
                })
                .await
            }
            CallbackCallAction::Bridge => {
                if let Some(other) = self.customer.media.as_ref().map(|l| l.id) {
                    self.agent.send(LegCommand::Bridge { other });
                }
            }
            CallbackCallAction::Report(report) => {
                info!(?report, "callback report");
                let _ = self
                    .outcomes
                    .send(CallbackCallOutcome::Report(callback, report));
            }
            CallbackCallAction::Fact(fact) => {
                if matches!(fact, CallFact::Ended { .. }) {
                    // Media quality before the end, for subscribers that close their record
                    // on `Ended`.
                    for leg in [CUSTOMER_LEG, AGENT_LEG] {
                        let side = self.side_mut(leg);
                        let quality = match side.media.as_mut() {
                            Some(m) => finish(m).await,
                            None => None,
                        };
                        self.publish_quality(leg, quality);
                    }
                }
                self.publish(fact);
            }
            CallbackCallAction::Finished(end) => {
                info!(?end, "callback call ended");
                let _ = self
                    .outcomes
                    .send(CallbackCallOutcome::Finished(callback, end));
                return true;
            }
        }
        false
    }

    /// Ring every registered contact of the agent's extension (none: unreachable at once).
    async fn ring_agent(&mut self, extension: &str) {
        if self.agent.media.is_none() || self.customer.media.is_none() {
            // Without media there is nobody to talk to: like an unreachable agent, this
            // costs the customer nothing.
            self.call.agent_failed(now(), Outcome::Unavailable);
            return;
        }
        let targets: Vec<DialTarget> = self
            .links
            .location
            .lookup(extension, self.links.clock.now())
            .into_iter()
            .map(|b| DialTarget {
                extension: extension.to_string(),
                contact: b.contact,
                reach: b.reach,
                trunk: None,
            })
            .collect();
        if targets.is_empty() {
            info!(extension, "the agent's extension has no reachable contact");
        }
        self.fork = Some(Fork::new(targets, FIRST_AGENT_LEG));
        self.drain_fork().await;
    }

    /// Perform what the agent's fork decided.
    async fn drain_fork(&mut self) {
        loop {
            let Some(action) = self.fork.as_mut().and_then(Fork::poll_action) else {
                return;
            };
            match action {
                ForkAction::Place { leg, target } => {
                    let Some(port) = self.agent.port() else {
                        continue;
                    };
                    let sdp = sdp::build_offer(self.links.media.ip(), port, self.agent.session, 1);
                    let number = self.customer_number();
                    let display = format!("callback {number} {}", self.links.queue);
                    self.command(|call| EndpointCommand::PlaceLeg {
                        call,
                        leg,
                        target,
                        sdp,
                        caller: number,
                        queue: None,
                        display: Some(display),
                    })
                    .await;
                }
                ForkAction::Cancel(leg) => {
                    self.command(|call| EndpointCommand::CancelLeg { call, leg })
                        .await
                }
                ForkAction::Bye(leg) => {
                    self.command(|call| EndpointCommand::ByeLeg { call, leg })
                        .await
                }
                ForkAction::Won(_) => self.call.agent_answered(now()),
                ForkAction::Failed(result) => {
                    let outcome = self.agent_failure(result);
                    self.call.agent_failed(now(), outcome);
                }
            }
        }
    }

    /// The outcome that stands for the whole fork's failure: a busy or declined contact if
    /// the fork says busy, else the last failure; no contact at all is unreachable.
    fn agent_failure(&self, result: DialResult) -> Outcome {
        let busy = self
            .agent_failures
            .iter()
            .find(|o| matches!(o, Outcome::Busy | Outcome::Declined));
        match (result, busy, self.agent_failures.last()) {
            (DialResult::Busy, Some(o), _) => o.clone(),
            (DialResult::Busy, None, _) => Outcome::Busy,
            (_, _, Some(o)) => o.clone(),
            (_, _, None) => Outcome::Unavailable,
        }
    }

    /// The customer, through the trunk.
    async fn dial_customer(&mut self, number: &str) {
        let target = match trunk_target(&self.links.trunk, number) {
            Ok(t) => t,
            Err(e) => {
                // The book keeps canonical E.164, so this is a trunk whose plan disagrees.
                warn!(trunk = %self.links.trunk.name, number, error = %e, "a number the trunk cannot dial");
                self.call.customer_failed(now(), Some(484));
                return;
            }
        };
        let Some(port) = self.customer.port() else {
            self.call.customer_failed(now(), Some(503));
            return;
        };
        let sdp = sdp::build_offer(self.links.media.ip(), port, self.customer.session, 1);
        let caller = self.links.trunk.caller_id.clone();
        self.command(|call| EndpointCommand::PlaceLeg {
            call,
            leg: CUSTOMER_LEG,
            target,
            sdp,
            caller,
            queue: None,
            display: None,
        })
        .await;
    }

    /// Something happened on one of our SIP legs.
    async fn leg_event(&mut self, leg: LegId, event: OutboundEvent) {
        if let OutboundEvent::Refer { .. } = event {
            // No transfer out of a callback call: the UAC already said 202, NOTIFY the end.
            self.command(|call| EndpointCommand::NotifyLeg {
                call,
                leg,
                status: 403,
            })
            .await;
            return;
        }
        if leg == CUSTOMER_LEG {
            self.customer_event(event).await;
        } else {
            self.agent_event(leg, event).await;
        }
    }

    async fn customer_event(&mut self, event: OutboundEvent) {
        let at = now();
        match event {
            OutboundEvent::Ringing { .. } => self.call.customer_ringing(at),
            OutboundEvent::Answered { sdp } => {
                match sdp.as_deref().map(sdp::parse_answer) {
                    Some(Ok(n)) => {
                        self.customer.send(LegCommand::Start(n));
                        self.call.customer_answered(at);
                    }
                    _ => {
                        // Answered without a usable SDP answer: nobody could hear anybody.
                        debug!("the customer answered without a usable SDP answer");
                        self.command(|call| EndpointCommand::ByeLeg {
                            call,
                            leg: CUSTOMER_LEG,
                        })
                        .await;
                        self.call.customer_failed(at, Some(488));
                    }
                }
            }
            OutboundEvent::Failed(outcome) => self.call.customer_failed(at, outcome.status()),
            OutboundEvent::RemoteBye => self.call.customer_hung_up(at),
            OutboundEvent::ByeDone | OutboundEvent::Refer { .. } => {}
        }
    }

    async fn agent_event(&mut self, leg: LegId, event: OutboundEvent) {
        let at = now();
        let Some(fork) = self.fork.as_mut() else {
            return;
        };
        if fork.target(leg).is_none() {
            return;
        }
        match event {
            OutboundEvent::Ringing { .. } => {
                if fork.winner().is_none() {
                    self.call.agent_ringing(at);
                }
            }
            OutboundEvent::Answered { sdp } => {
                match sdp.as_deref().map(sdp::parse_answer) {
                    Some(Ok(n)) => {
                        let first = fork.winner().is_none();
                        fork.handle_answered(leg);
                        if first && fork.winner() == Some(leg) {
                            self.agent.send(LegCommand::Start(n));
                        }
                    }
                    _ => {
                        debug!(
                            leg = leg.0,
                            "the agent answered without a usable SDP answer"
                        );
                        fork.handle_failed(leg, Outcome::Rejected { status: 488 });
                        self.agent_failures.push(Outcome::Rejected { status: 488 });
                        self.command(|call| EndpointCommand::ByeLeg { call, leg })
                            .await;
                    }
                }
                self.drain_fork().await;
            }
            OutboundEvent::Failed(outcome) => {
                self.agent_failures.push(outcome.clone());
                fork.handle_failed(leg, outcome);
                self.drain_fork().await;
            }
            OutboundEvent::RemoteBye => {
                if fork.winner() == Some(leg) {
                    self.call.agent_hung_up(at);
                }
            }
            OutboundEvent::ByeDone | OutboundEvent::Refer { .. } => {}
        }
    }

    /// A media leg's event.
    async fn media_event(&mut self, leg: LegId, ev: Option<LegEvent>) {
        let at = now();
        match ev {
            Some(LegEvent::PromptDone(id)) => {
                let side = self.side_mut(leg);
                if side.playing != Some(id) {
                    return; // an older play's
                }
                side.playing = None;
                if leg == AGENT_LEG {
                    self.call.agent_prompt_done(at);
                } else {
                    self.call.customer_prompt_done(at);
                }
            }
            Some(LegEvent::RtpTimeout) => {
                warn!(leg = leg.0, "no RTP: ending that side's leg");
                self.side_gone(leg).await;
            }
            Some(LegEvent::Digit(..) | LegEvent::Quality(_)) | None => {}
        }
    }

    /// A side's phone is gone (no RTP, no ACK): hang it up and tell the core it left.
    async fn side_gone(&mut self, leg: LegId) {
        let at = now();
        if leg == CUSTOMER_LEG {
            self.command(|call| EndpointCommand::ByeLeg { call, leg })
                .await;
            self.call.customer_hung_up(at);
        } else if let Some(agent) = self.agent_leg() {
            self.command(|call| EndpointCommand::ByeLeg { call, leg: agent })
                .await;
            self.call.agent_hung_up(at);
        }
    }

    /// A re-INVITE from the agent's phone or the carrier: answer it from that side's media
    /// port and move its media.
    async fn reinvite(&mut self, leg: LegId, body: Option<String>) {
        let ip = self.links.media.ip();
        let Some(side) = self.answered_side(leg) else {
            self.respond_reinvite(leg, 481, None).await;
            return;
        };
        let Some(port) = side.port() else {
            self.respond_reinvite(leg, 488, None).await;
            return;
        };
        side.version += 1;
        let (session, version) = (side.session, side.version);
        let Some(body) = body else {
            // RFC 3264 §8.4: we offer what we have, the ACK answers.
            side.reoffer = true;
            let offer = sdp::build_offer(ip, port, session, version);
            self.respond_reinvite(leg, 200, Some(offer)).await;
            return;
        };
        match sdp::negotiate(&body) {
            Ok(n) => {
                let answer = sdp::build_answer(&n, ip, port, session, version);
                side.send(LegCommand::Update(n));
                self.respond_reinvite(leg, 200, Some(answer)).await;
            }
            Err(e) => {
                debug!(error = %e, leg = leg.0, "an unusable re-INVITE offer");
                self.respond_reinvite(leg, 488, None).await;
            }
        }
    }

    /// The ACK to our 200 for a re-INVITE; after an offerless one it carries the answer.
    async fn reinvite_ack(&mut self, leg: LegId, body: Option<&str>) {
        let Some(side) = self.answered_side(leg) else {
            return;
        };
        if !std::mem::take(&mut side.reoffer) {
            return;
        }
        match body.map(sdp::parse_answer) {
            Some(Ok(n)) => side.send(LegCommand::Update(n)),
            _ => {
                // RFC 3264 §5: no usable session is left with that side.
                debug!(leg = leg.0, "an unusable answer in the ACK");
                self.side_gone(leg).await;
            }
        }
    }

    async fn respond_reinvite(&self, leg: LegId, status: u16, sdp: Option<String>) {
        self.command(|call| EndpointCommand::RespondOperatorReinvite {
            call,
            leg,
            status,
            sdp,
        })
        .await;
    }

    /// The side whose answered SIP leg is `leg` (the customer's, or the agent's winner).
    fn answered_side(&mut self, leg: LegId) -> Option<&mut Side> {
        if leg == CUSTOMER_LEG {
            Some(&mut self.customer)
        } else if self.agent_leg() == Some(leg) {
            Some(&mut self.agent)
        } else {
            None
        }
    }

    /// The agent's answered endpoint leg.
    fn agent_leg(&self) -> Option<LegId> {
        self.fork.as_ref().and_then(Fork::winner)
    }

    fn side_mut(&mut self, leg: LegId) -> &mut Side {
        if leg == CUSTOMER_LEG {
            &mut self.customer
        } else {
            &mut self.agent
        }
    }

    fn play(&mut self, leg: LegId, names: &[&'static str]) {
        let prompts = self.links.prompts.resolve(&self.links.language, names);
        self.next_play += 1;
        let id = PlayId(self.next_play);
        let side = self.side_mut(leg);
        side.playing = Some(id);
        side.send(LegCommand::Play { id, prompts });
    }

    fn customer_number(&self) -> String {
        self.call.customer_number().to_string()
    }

    /// Send an endpoint command for this call (nothing when it has no id: the endpoint is
    /// gone).
    async fn command(&self, make: impl FnOnce(u64) -> EndpointCommand) {
        if let Some(call) = self.id {
            let _ = self.links.endpoint.send(make(call)).await;
        }
    }

    fn publish(&self, fact: CallFact) {
        self.links.bus.publish(events::CallEvent {
            at: self.links.clock.now(),
            call: events::CallId(self.id.unwrap_or(0)),
            fact,
        });
    }

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
}

#[cfg(test)]
#[path = "call_task_tests.rs"]
mod tests;
