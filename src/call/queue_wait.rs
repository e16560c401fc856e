//! A call waiting in an ACD queue (a flow's `queue` node), as part of the call core: music
//! on hold, the announcements on their fixed grid ([`AnnouncementSchedule`]), ringing the
//! agent the ACD offers the call to, and what the ACD must hear back (answered, failed,
//! left, call ended). Who is offered what is the ACD's ([`crate::acd`]); this file is only
//! the caller's side of it.
//!
//! The ACD owns the ring time-out (it sends `CancelOffer`); an agent's answer bridges the
//! caller at once — an announcement playing is cut by the bridge itself.

use std::sync::Arc;
use std::time::Instant;

use crate::acd::announce::AnnouncementSchedule;
use crate::acd::{AgentId, EntryId, OfferFailure, OverflowReason};
use crate::call::events::CallFact;
use crate::ivr::{DialResult, PlayId};

use super::{default_moh, CallAction, CallCore, MediaCommand, Operator, State};

/// Announcement plays are told apart from the IVR's by this bit of their id.
const ANNOUNCEMENT: u32 = 0x8000_0000;

/// What an agent's phone is told about a queue's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueOffer {
    pub queue: Arc<str>,
    /// Whole seconds the caller has waited.
    pub waited_s: u64,
}

/// The caller's place in a queue while they wait.
#[derive(Debug)]
pub(super) struct QueueWait {
    pub(super) queue: Arc<str>,
    /// The queue's music-on-hold class.
    pub(super) music: Arc<str>,
    /// `None` until the ACD has taken the caller in.
    pub(super) entry: Option<EntryId>,
    schedule: Option<AnnouncementSchedule>,
    /// When the ACD took the caller in.
    pub(super) entered: Option<Instant>,
    /// The announcement playing now.
    pub(super) announcing: Option<PlayId>,
    next_announcement: u32,
    /// The agent whose phone rings for this caller now.
    pub(super) offer: Option<AgentId>,
    /// The callback dialogue, while the caller books one (`queue_callback.rs`).
    pub(super) callback: Option<crate::call::callback_offer::CallbackDialogue>,
    /// The number of the dialogue's latest play.
    pub(super) callback_play: u32,
}

impl QueueWait {
    pub(super) fn new(queue: Arc<str>, music: Arc<str>) -> QueueWait {
        QueueWait {
            queue,
            music,
            entry: None,
            schedule: None,
            entered: None,
            announcing: None,
            next_announcement: 0,
            offer: None,
            callback: None,
            callback_play: 0,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.as_ref().and_then(|s| s.poll_timeout())
    }

    /// The announcement playing (or due) is over without playing to its end: something else
    /// plays now (the callback dialogue). The grid stays.
    pub(super) fn end_announcement(&mut self, now: Instant) {
        self.announcing = None;
        if let Some(s) = self.schedule.as_mut() {
            s.prompt_done(now);
        }
    }
}

impl CallCore {
    /// Wait in `queue` (a flow's queue node, or a transfer to the queue's number).
    pub(super) fn enter_queue(&mut self, queue: Arc<str>, priority: u8) {
        self.queue_priority = priority;
        let class = self
            .setup
            .queue_music
            .get(&queue)
            .cloned()
            .unwrap_or_else(default_moh);
        self.queue = Some(QueueWait::new(Arc::clone(&queue), Arc::clone(&class)));
        self.out
            .push_back(CallAction::EnterQueue { queue, priority });
        self.out
            .push_back(CallAction::Media(MediaCommand::MusicOnHold { class }));
    }

    /// The ACD took the caller in as `entry`: announcements start (the first at once).
    pub fn handle_queue_entered(&mut self, now: Instant, entry: EntryId) {
        let every = self.setup.announce_every;
        if let Some(w) = self.queue.as_mut() {
            w.entry = Some(entry);
            w.entered = Some(now);
            w.schedule = Some(AnnouncementSchedule::new(now, every));
        } else {
            // The caller left before the ACD answered: it must forget them.
            self.out.push_back(CallAction::QueueLeft { entry });
        }
    }

    /// The queue refused the caller (full, nobody logged in) or gave up on them (the
    /// maximum wait): stop ringing, on to the queue node's `on_overflow`.
    pub fn handle_queue_overflow(&mut self, now: Instant, reason: OverflowReason) {
        let Some(w) = self.queue.take() else {
            return;
        };
        tracing::debug!(queue = %w.queue, ?reason, "queue overflow");
        if w.offer.is_some() {
            self.abandon_dial();
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_queue_overflow(now);
        }
        self.drain_ivr();
    }

    /// The ACD offers the caller to `agent`: ring the extension's contacts.
    pub fn handle_queue_offer(&mut self, agent: AgentId, extension: Arc<str>) {
        let Some(w) = self.queue.as_mut() else {
            return;
        };
        if w.offer.is_some()
            || !matches!(self.operator, Operator::None | Operator::Abandoned { .. })
        {
            return;
        }
        w.offer = Some(agent);
        self.out.push_back(CallAction::Dial { extension });
    }

    /// The ACD gave up on the offer (ring time-out, or the caller's place was taken
    /// otherwise): stop ringing; the caller keeps waiting.
    pub fn handle_queue_cancel_offer(&mut self, agent: AgentId) {
        let Some(w) = self.queue.as_mut() else {
            return;
        };
        if w.offer == Some(agent) {
            w.offer = None;
            self.abandon_dial();
        }
    }

    /// It is time for an announcement: the driver fetches the caller's position and
    /// estimated wait (and calls [`CallCore::handle_announcement`]).
    pub(super) fn queue_timeout(&mut self, now: Instant) {
        let Some(w) = self.queue.as_mut() else {
            return;
        };
        let (Some(entry), Some(schedule)) = (w.entry, w.schedule.as_mut()) else {
            return;
        };
        if schedule.handle_timeout(now).is_some() {
            if w.callback.is_some() {
                // The caller is booking a callback: this slot says nothing (the grid stays).
                tracing::debug!("announcement skipped: callback dialogue");
                schedule.prompt_done(now);
            } else {
                self.out.push_back(CallAction::Announce { entry });
            }
        }
        while let Some(skip) = schedule.poll_skip() {
            tracing::debug!(slot = skip.slot, why = ?skip.why, "announcement skipped");
        }
    }

    /// The announcement's prompts, for the caller's `position` and estimated wait.
    pub fn handle_announcement(
        &mut self,
        now: Instant,
        position: u32,
        ewt_s: Option<f64>,
        prompts: Vec<Arc<str>>,
    ) {
        if self.in_callback_dialogue() {
            return;
        }
        let prompts = self.with_callback_offer(prompts, ewt_s);
        let Some(w) = self.queue.as_mut() else {
            return;
        };
        let Some(schedule) = w.schedule.as_mut().filter(|s| !s.is_cut()) else {
            return;
        };
        schedule.prompt_started(now);
        let id = PlayId(ANNOUNCEMENT | (w.next_announcement & !ANNOUNCEMENT));
        w.next_announcement = w.next_announcement.wrapping_add(1);
        w.announcing = Some(id);
        self.out
            .push_back(CallAction::Publish(CallFact::QueueAnnounced {
                position,
                ewt_s: ewt_s.map(|s| s.round() as u32),
            }));
        self.out
            .push_back(CallAction::Media(MediaCommand::Play { id, prompts }));
    }

    /// A play ended; `true` when it was an announcement (music on hold again).
    pub(super) fn queue_prompt_done(&mut self, now: Instant, id: PlayId) -> bool {
        if id.0 & ANNOUNCEMENT == 0 {
            return false;
        }
        if let Some(w) = self.queue.as_mut() {
            if w.announcing == Some(id) {
                w.announcing = None;
                if let Some(s) = w.schedule.as_mut() {
                    s.prompt_done(now);
                }
                let class = Arc::clone(&w.music);
                self.out
                    .push_back(CallAction::Media(MediaCommand::MusicOnHold { class }));
            }
        }
        true
    }

    /// The offered agent answered (the bridge is made by the caller of this function):
    /// announcements stop for good, the ACD hears of it, the flow is connected.
    pub(super) fn queue_answered(&mut self, now: Instant) -> bool {
        let Some(mut w) = self.queue.take() else {
            return false;
        };
        if let Some(s) = w.schedule.as_mut() {
            s.cut(now);
        }
        if let (Some(entry), Some(agent)) = (w.entry, w.offer) {
            self.out
                .push_back(CallAction::QueueAnswered { entry, agent });
            self.queue_agent = Some(agent);
        }
        if self.setup.queue_callbacks.contains_key(&w.queue) {
            self.out
                .push_back(CallAction::CallbackServed { queue: w.queue });
        }
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.handle_dial_result(now, DialResult::Answered);
        }
        self.drain_ivr();
        true
    }

    /// The offer failed (busy, nobody answered, unreachable): the ACD offers the caller to
    /// someone else; the caller keeps waiting. `true` when the dial was a queue offer.
    pub(super) fn queue_offer_failed(&mut self, result: DialResult) -> bool {
        let Some(w) = self.queue.as_mut() else {
            return false;
        };
        let (Some(entry), Some(agent)) = (w.entry, w.offer.take()) else {
            return true;
        };
        let failure = match result {
            DialResult::Busy => OfferFailure::Busy,
            _ => OfferFailure::NoAnswer,
        };
        self.out.push_back(CallAction::QueueOfferFailed {
            entry,
            agent,
            failure,
        });
        true
    }

    /// The caller's side is over (they hung up, or the call ends): tell the ACD — the
    /// caller left the queue, or the agent's call from the queue ended.
    pub(super) fn queue_caller_gone(&mut self) {
        if let Some(w) = self.queue.take() {
            if let Some(entry) = w.entry {
                self.out.push_back(CallAction::QueueLeft { entry });
            }
        }
        self.queue_call_ended();
    }

    /// The agent's call from the queue ended (either side hung up): wrap-up starts.
    pub(super) fn queue_call_ended(&mut self) {
        if let Some(agent) = self.queue_agent.take() {
            self.out.push_back(CallAction::QueueCallEnded { agent });
        }
    }

    /// The queue and the wait so far, when the leg about to be placed is a queue's offer.
    pub(super) fn queue_offer_info(&self, now: Instant) -> Option<QueueOffer> {
        let w = self.queue.as_ref()?;
        w.offer?;
        Some(QueueOffer {
            queue: Arc::clone(&w.queue),
            waited_s: w
                .entered
                .map(|e| now.saturating_duration_since(e).as_secs())
                .unwrap_or(0),
        })
    }

    /// The operator bridged now came through the queue (the ACD knows them busy).
    pub fn is_queue_call(&self) -> bool {
        self.queue_agent.is_some()
    }

    /// The caller is waiting (MOH or an announcement plays): a dial must not restart music.
    pub(super) fn queue_waiting(&self) -> bool {
        self.queue.is_some() && matches!(self.state, State::Up)
    }
}
