//! New calls in the endpoint (driver side): admission and routing are decided by
//! `crate::call::{admission, routing}`; here the INVITE gets its transaction, media leg,
//! dialog and call task, and CANCEL finds the call it ends.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{info_span, warn, Instrument};

use crate::call::admission::admit;
use crate::call::core::{CallCore, CallSetup};
use crate::call::driver::{CallEvent, CallTask};
use crate::call::routing::{route_invite, InviteRoute};
use crate::sip::message::Message;
use crate::sip::response::{response_for, unavailable};
use crate::sip::transaction::TxKey;
use crate::telemetry;

use super::dialog::{self, Dialog};
use super::{now, Endpoint, Route, ServerTx, TxKind};

impl Endpoint {
    pub(super) async fn new_call(&mut self, req: Message, key: TxKey, route: Route) {
        let rate = self.invite_limiter.check(now(), route.source.ip());
        let admitted = admit(
            self.p.calls_stop.is_cancelled(),
            rate,
            self.calls.len(),
            self.p.config.sip.max_calls,
            self.p.config.sip.retry_after,
        );
        if let Err(refusal) = admitted {
            metrics::counter!(telemetry::CALLS_REFUSED, "reason" => refusal.reason).increment(1);
            let resp = unavailable(&req, refusal.retry_after);
            self.respond_invite_tx(key, route, &req, None, resp, 503)
                .await;
            return;
        }
        if let Some(resp) = self.session_interval_too_small(&req, &dialog::new_tag()) {
            self.respond_invite_tx(key, route, &req, None, resp, 422)
                .await;
            return;
        }
        let number = req.dialled_number().unwrap_or_default();
        let registered = !self
            .p
            .links
            .location
            .lookup(&number, self.p.links.clock.now())
            .is_empty();
        let flow = match route_invite(
            &number,
            &self.p.config.ivr.numbers,
            &self.p.config.ivr.default_flow,
            registered,
        ) {
            InviteRoute::Flow(name) => match self.p.flows.get(&name) {
                Some(flow) => flow,
                None => {
                    warn!(flow = %name, "flow missing");
                    let resp = response_for(&req, 500, &dialog::new_tag());
                    self.respond_invite_tx(key, route, &req, None, resp, 500)
                        .await;
                    return;
                }
            },
            InviteRoute::Extension(_) | InviteRoute::Feature(_) => {
                self.authenticate_invite(req, key, route).await;
                return;
            }
        };
        self.start_call(req, key, route, number, flow, None).await;
    }

    /// Create the call (media leg, dialog, call task) for an admitted INVITE.
    pub(super) async fn start_call(
        &mut self,
        req: Message,
        key: TxKey,
        route: Route,
        number: String,
        flow: Arc<crate::ivr::Flow>,
        caller_extension: Option<String>,
    ) {
        let flow_name = flow.name.clone();
        let leg = match self.p.media.allocate_leg() {
            Ok(leg) => leg,
            Err(e) => {
                warn!(error = %e, "no media for a new call");
                metrics::counter!(telemetry::CALLS_REFUSED, "reason" => "no_media").increment(1);
                let resp = unavailable(&req, self.p.config.sip.retry_after);
                self.respond_invite_tx(key, route, &req, None, resp, 503)
                    .await;
                return;
            }
        };
        let id = self.next_call;
        self.next_call += 1;
        let (events_tx, events_rx) = mpsc::channel(64);
        let events_tx_for_acd = events_tx.downgrade();
        let dialog = Dialog::new(&req, route.via, route.source, key.clone(), events_tx);
        let call_id = req.call_id().unwrap_or_default().to_string();
        self.by_dialog
            .insert((call_id.clone(), dialog.remote_tag.clone()), id);
        // 100 Trying at once: the call core decides ringing and answering.
        let trying = response_for(&req, 100, "");
        self.open_transaction(key.clone(), &req, route, TxKind::Invite, Some(id));
        self.respond_server_invite(&key, trying, 100).await;
        let caller = req.from_user().unwrap_or_default();
        let setup = CallSetup {
            flow,
            media_ip: self.p.media.ip(),
            media_port: leg.local_port,
            answer_after: self.p.config.ivr.answer_after,
            transfer_ring_timeout: self.p.config.ivr.transfer_ring_timeout,
            announce_every: self.p.config.acd.announce_every,
            queue_numbers: Arc::clone(&self.queue_numbers),
            queue_music: Arc::clone(&self.queue_music),
            queue_callbacks: Arc::clone(&self.queue_callbacks),
            language: crate::acd::phrases::Lang::from_code(&self.p.config.ivr.language),
            session_id: id,
            caller: caller.clone(),
            dialled: number.clone(),
        };
        let core = CallCore::new(now(), setup, req.body_text().map(str::to_string));
        self.calls.insert(id, Box::new(dialog));
        self.set_active();
        let task = CallTask {
            id,
            core,
            leg,
            events: events_rx,
            notify: events_tx_for_acd,
            endpoint: self.cmd_tx.clone(),
            prompts: Arc::clone(&self.p.prompts),
            language: self.p.config.ivr.language.clone(),
            stop: self.p.calls_stop.clone(),
            links: self.p.links.clone(),
            caller,
            call_id: call_id.clone(),
            caller_extension: caller_extension.map(Arc::from),
        };
        let span = info_span!("call", id, call_id = %call_id, number = %number, flow = %flow_name);
        self.p.tracker.spawn(task.run().instrument(span));
    }

    pub(super) async fn cancel(&mut self, req: Message, key: TxKey, route: Route) {
        let invite_key = TxKey::of_request(&req, "INVITE");
        let target = invite_key
            .as_ref()
            .and_then(|k| self.server.get(k))
            .and_then(|e| {
                let answered = match &e.tx {
                    ServerTx::Invite(tx) => tx.has_final(),
                    ServerTx::NonInvite(_) => true,
                };
                Some((e.call?, answered))
            });
        let status = if target.is_some() { 200 } else { 481 };
        let resp = response_for(&req, status, &dialog::new_tag());
        self.respond_non_invite(key, route, &req, resp).await;
        if let Some((call, false)) = target {
            if let Some(d) = self.calls.get(&call) {
                let _ = d.events.try_send(CallEvent::Cancel);
            }
        }
    }
}
