//! One task per call (a driver): it owns the call's [`CallCore`] and media leg, feeds it
//! SIP events from the endpoint, media events from the leg, timers and shutdown, and
//! performs the actions it returns. It decides nothing about SIP, the IVR or media itself.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::call::core::{CallAction, CallCore, HangupCause, MediaCommand};
use crate::media::dtmf::{Digit, DigitSource};
use crate::media::engine::{LegCommand, LegHandle};
use crate::media::leg::LegEvent;
use crate::media::prompt::PromptLibrary;
use crate::telemetry;

/// What the endpoint tells a call.
#[derive(Debug)]
pub enum CallEvent {
    /// ACK for our 2xx, with its body (the SDP answer when we offered).
    Ack(Option<String>),
    Cancel,
    Bye,
    ReInvite(Option<String>),
    /// A digit from a SIP INFO.
    InfoDigit(Digit),
    /// Our BYE got its final response, or its transaction timed out.
    ByeCompleted,
    /// Our 2xx was never acknowledged (64·T1).
    AckTimeout,
}

/// What a call asks of the endpoint. `call` identifies the dialog.
#[derive(Debug)]
pub enum EndpointCommand {
    /// Respond to the initial INVITE.
    RespondInvite {
        call: u64,
        status: u16,
        sdp: Option<String>,
    },
    /// Respond to the pending re-INVITE.
    RespondReinvite {
        call: u64,
        status: u16,
        sdp: Option<String>,
    },
    SendBye {
        call: u64,
    },
    Ended {
        call: u64,
        cause: HangupCause,
    },
    /// The final response to a non-INVITE request whose server transaction the endpoint
    /// holds open under `key` (REGISTER, answered by the registrar).
    RespondRequest {
        key: crate::sip::transaction::TxKey,
        response: crate::sip::message::Message,
    },
}

pub struct CallTask {
    pub id: u64,
    pub core: CallCore,
    pub leg: LegHandle,
    pub events: mpsc::Receiver<CallEvent>,
    pub endpoint: mpsc::Sender<EndpointCommand>,
    pub prompts: Arc<PromptLibrary>,
    pub language: String,
    pub stop: CancellationToken,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl CallTask {
    pub async fn run(mut self) {
        let mut stopping = false;
        loop {
            while let Some(action) = self.core.poll_action() {
                if let Some(cause) = self.perform(action).await {
                    metrics::counter!(telemetry::CALLS_TOTAL, "end" => cause.label()).increment(1);
                    info!(end = cause.label(), "call ended");
                    let _ = self
                        .endpoint
                        .send(EndpointCommand::Ended {
                            call: self.id,
                            cause,
                        })
                        .await;
                    return;
                }
            }
            let deadline = self.core.poll_timeout();
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(CallEvent::Ack(body)) => self.core.handle_ack(now(), body.as_deref()),
                    Some(CallEvent::Cancel) => self.core.handle_cancel(),
                    Some(CallEvent::Bye) => self.core.handle_bye(),
                    Some(CallEvent::ReInvite(body)) => self.core.handle_reinvite(now(), body.as_deref()),
                    Some(CallEvent::InfoDigit(d)) => {
                        metrics::counter!(telemetry::DTMF_DIGITS, "source" => DigitSource::Info.label()).increment(1);
                        debug!(digit = %d, "digit by SIP INFO");
                        self.core.handle_digit(now(), d)
                    }
                    Some(CallEvent::ByeCompleted) => self.core.handle_bye_completed(),
                    Some(CallEvent::AckTimeout) => self.core.handle_ack_timeout(),
                    None => {
                        // The endpoint is gone (shutdown): nothing more can be signalled.
                        return;
                    }
                },
                ev = self.leg.events.recv() => match ev {
                    Some(LegEvent::PromptDone(id)) => self.core.handle_prompt_done(now(), id),
                    Some(LegEvent::Digit(d, source)) => {
                        debug!(digit = %d, source = source.label(), "digit");
                        self.core.handle_digit(now(), d)
                    }
                    Some(LegEvent::RtpTimeout) => {
                        warn!("no RTP from the caller; ending the call");
                        self.core.handle_media_timeout()
                    }
                    None => {}
                },
                _ = sleep_until(deadline) => self.core.handle_timeout(now()),
                _ = self.stop.cancelled(), if !stopping => {
                    stopping = true;
                    self.core.shut_down();
                }
            }
        }
    }

    /// Perform one action; `Some(cause)` when the call is over.
    async fn perform(&mut self, action: CallAction) -> Option<HangupCause> {
        let call = self.id;
        let command = match action {
            CallAction::Ring => EndpointCommand::RespondInvite {
                call,
                status: 180,
                sdp: None,
            },
            CallAction::Answer { sdp } => EndpointCommand::RespondInvite {
                call,
                status: 200,
                sdp: Some(sdp),
            },
            CallAction::Reject { status } => EndpointCommand::RespondInvite {
                call,
                status,
                sdp: None,
            },
            CallAction::Terminated => EndpointCommand::RespondInvite {
                call,
                status: 487,
                sdp: None,
            },
            CallAction::AnswerReinvite { sdp } => EndpointCommand::RespondReinvite {
                call,
                status: 200,
                sdp: Some(sdp),
            },
            CallAction::RejectReinvite { status } => EndpointCommand::RespondReinvite {
                call,
                status,
                sdp: None,
            },
            CallAction::SendBye => EndpointCommand::SendBye { call },
            CallAction::Media(cmd) => {
                self.media(cmd);
                return None;
            }
            CallAction::Ended(cause) => return Some(cause),
        };
        let _ = self.endpoint.send(command).await;
        None
    }

    fn media(&mut self, cmd: MediaCommand) {
        let cmd = match cmd {
            MediaCommand::Start(n) => LegCommand::Start(n),
            MediaCommand::Update(n) => LegCommand::Update(n),
            MediaCommand::StopPlayback => LegCommand::Stop,
            MediaCommand::Play { id, prompts } => {
                let resolved = prompts
                    .iter()
                    .filter_map(|name| {
                        let p = self.prompts.get(&self.language, name);
                        if p.is_none() {
                            // The preflight checks every prompt in every language; this is a bug.
                            warn!(prompt = %name, language = %self.language, "prompt missing");
                        }
                        p
                    })
                    .collect();
                LegCommand::Play {
                    id,
                    prompts: resolved,
                }
            }
        };
        if self.leg.send(cmd).is_err() {
            warn!("media engine overloaded; command dropped");
        }
    }
}
