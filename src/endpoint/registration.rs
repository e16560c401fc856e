//! Registration in the endpoint (driver side): REGISTER and INVITEs to extensions go to the
//! registrar task with their transaction held open; its verdicts come back as commands;
//! registered contacts are qualified by OPTIONS. The rules are `crate::registrar`'s.

use crate::acd::actor::{AcdRequest, AgentChange};
use crate::call::driver::EndpointCommand;
use crate::call::routing::{direct_call_flow, feature_code, feature_flow, feature_prompt};
use crate::registrar::actor::RegisterJob;
use crate::registrar::qualify::{self, Probe};
use crate::sip::message::Message;
use crate::sip::registrar::Reach;
use crate::sip::response::{response_for, unavailable};
use crate::sip::screen::ALLOW;
use crate::sip::transaction::{ClientNonInviteTx, TxKey};
use crate::telemetry;
use crate::transport::Via;
use tracing::warn;

use super::dialog;
use super::timers::TimerOwner;
use super::{now, reliability, ClientEntry, ClientOwner, Endpoint, Route, TxKind};

impl Endpoint {
    /// Hand a REGISTER to the registrar task; its transaction stays open (absorbing
    /// retransmissions) until the answer comes back as `RespondRequest`.
    pub(super) async fn register(&mut self, req: Message, key: TxKey, route: Route) {
        let Some(registrar) = self.p.registrar.clone() else {
            // No registrar in this endpoint: RFC 3261 §8.2.1, 405 with Allow.
            let mut resp = response_for(&req, 405, &dialog::new_tag());
            resp.push_header("allow", ALLOW);
            self.respond_non_invite(key, route, &req, resp).await;
            return;
        };
        let job = RegisterJob {
            key: key.clone(),
            request: req.clone(),
            reach: reach_of(route),
        };
        if registrar.try_send(job).is_err() {
            let resp = unavailable(&req, self.p.config.sip.retry_after);
            self.respond_non_invite(key, route, &req, resp).await;
            return;
        }
        self.open_transaction(key, &req, route, TxKind::NonInvite, None);
    }

    /// Hold an INVITE to an extension (100 Trying, its transaction open) while the
    /// registrar authenticates the caller; `InviteAuthenticated` continues it.
    pub(super) async fn authenticate_invite(&mut self, req: Message, key: TxKey, route: Route) {
        let Some(registrar) = self.p.registrar.clone() else {
            let resp = response_for(&req, 404, &dialog::new_tag());
            self.respond_invite_tx(key, route, &req, None, resp, 404)
                .await;
            return;
        };
        self.open_transaction(key.clone(), &req, route, TxKind::Invite, None);
        self.respond_server_invite(&key, response_for(&req, 100, ""), 100)
            .await;
        let job = RegisterJob {
            key: key.clone(),
            request: req.clone(),
            reach: reach_of(route),
        };
        if registrar.try_send(job).is_err() {
            let resp = unavailable(&req, self.p.config.sip.retry_after);
            self.respond_server_invite(&key, resp, 503).await;
            return;
        }
        self.pending_auth.insert(key, (req, route));
    }

    /// The registrar's verdict on a held INVITE.
    pub(super) async fn invite_authenticated(
        &mut self,
        key: TxKey,
        result: Result<String, Message>,
    ) {
        let Some((req, route)) = self.pending_auth.remove(&key) else {
            return;
        };
        match result {
            Err(resp) => {
                let status = resp.status().unwrap_or(403);
                self.respond_server_invite(&key, resp, status).await;
            }
            Ok(caller) => {
                let number = req.dialled_number().unwrap_or_default();
                if let Some(change) = feature_code(&number) {
                    self.feature_call(key, req, route, caller, change);
                    return;
                }
                match direct_call_flow(&number) {
                    Ok(flow) => {
                        self.start_call(req, key, route, number, flow, Some(caller))
                            .await
                    }
                    Err(e) => {
                        warn!(error = %e, "direct call flow");
                        let resp = response_for(&req, 500, &dialog::new_tag());
                        self.respond_server_invite(&key, resp, 500).await;
                    }
                }
            }
        }
    }

    /// An authenticated softphone dialled a feature code: the ACD changes its agent state
    /// (in a task, the endpoint goes on), then the call says the result
    /// (`EndpointCommand::FeatureReady`).
    fn feature_call(
        &mut self,
        key: TxKey,
        req: Message,
        route: Route,
        caller: String,
        change: AgentChange,
    ) {
        let acd = self.p.links.acd.clone();
        let commands = self.cmd_tx.clone();
        let extension = caller.clone();
        self.pending_feature
            .insert(key.clone(), (req, route, caller));
        tokio::spawn(async move {
            let result = match acd {
                Some(acd) => {
                    // Busy while the feature call says the result (its call task clears it).
                    acd.send(AcdRequest::BusyElsewhere {
                        extension: extension.clone(),
                        busy: true,
                    })
                    .await;
                    acd.agent(&extension, change.clone()).await
                }
                None => Err("no queues are configured".into()),
            };
            if let Err(why) = &result {
                tracing::info!(extension = %extension, why = %why, "feature code refused");
            }
            let prompt = feature_prompt(&change, &result);
            let _ = commands
                .send(EndpointCommand::FeatureReady { key, prompt })
                .await;
        });
    }

    /// Start the feature call that says `prompt`.
    pub(super) async fn feature_ready(&mut self, key: TxKey, prompt: &'static str) {
        let Some((req, route, caller)) = self.pending_feature.remove(&key) else {
            return;
        };
        let number = req.dialled_number().unwrap_or_default();
        match feature_flow(prompt) {
            Ok(flow) => {
                self.start_call(req, key, route, number, flow, Some(caller))
                    .await
            }
            Err(e) => {
                warn!(error = %e, "feature flow");
                let resp = response_for(&req, 500, &dialog::new_tag());
                self.respond_server_invite(&key, resp, 500).await;
            }
        }
    }

    /// Send an OPTIONS to every registered contact (`[registrar] qualify_every`).
    pub(super) async fn qualify_contacts(&mut self) {
        let every = self.p.config.registrar.qualify_every;
        if every.is_zero() {
            return;
        }
        self.heap.push(now() + every, TimerOwner::Qualify);
        let bindings = self.p.links.location.all(self.p.links.clock.now());
        for (extension, b) in bindings {
            let (via, dest) = match b.reach {
                Reach::Udp(a) => (self.p.transports.udp_toward(a), a),
                Reach::Tcp { source, conn } => (Via::Tcp(crate::transport::ConnId(conn)), source),
            };
            let probe = Probe {
                extension,
                contact: b.contact,
                reach: b.reach,
            };
            let token = dialog::new_tag();
            let req = qualify::options_request(
                &probe,
                self.p.transports.local(via, dest),
                &token,
                &self.p.config.sip.user_agent,
            );
            let branch = format!("z9hG4bKq{token}");
            let tx = ClientNonInviteTx::new(now(), req.to_bytes(), reliability(via), self.timers);
            metrics::counter!(telemetry::SIP_REQUESTS_SENT, "method" => "OPTIONS").increment(1);
            self.client.insert(
                branch.clone(),
                ClientEntry {
                    tx,
                    owner: ClientOwner::Qualify { probe, via, dest },
                },
            );
            self.drain_client(&branch).await;
        }
    }
}

/// Where a request really came from, as the registrar records it.
pub(super) fn reach_of(route: Route) -> Reach {
    match route.via {
        Via::Udp(_) => Reach::Udp(route.source),
        Via::Tcp(conn) => Reach::Tcp {
            source: route.source,
            conn: conn.0,
        },
    }
}
