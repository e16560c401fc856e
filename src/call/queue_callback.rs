//! A caller waiting in a queue that offers callbacks, as part of the call core: the offer in
//! the announcement (when the estimated wait is long enough), the key that starts the
//! callback dialogue ([`CallbackDialogue`]: the number, when, the service's answer), and
//! what follows — back to music on hold and the announcements, or, booked, the caller leaves
//! the line while the callback keeps their place (`QueueLeftForCallback`, then our BYE).
//! While the dialogue runs the announcements due are skipped (the grid itself stays); an
//! agent's answer still connects the caller at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::callback_offer::{offer_prompts, Booking, CallbackDialogue, End, Output};

use super::{CallAction, CallCore, HangupCause, MediaCommand, State};
use crate::ivr::PlayId;

/// The dialogue's plays are told apart from the IVR's and the announcements' by this bit.
pub(super) const DIALOGUE: u32 = 0x4000_0000;

/// A queue's callback offer as the call core needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackKey {
    /// The digit a waiting caller presses.
    pub key: char,
    /// The offer is announced when the estimated wait is at least this long (or unknown:
    /// nobody serves the queue now).
    pub offer_after: Duration,
}

impl CallCore {
    /// The waiting caller's queue offers callbacks: its key and threshold.
    fn callback_key(&self) -> Option<CallbackKey> {
        let w = self.queue.as_ref()?;
        self.setup.queue_callbacks.get(&w.queue).copied()
    }

    /// The announcement's prompts with the callback offer added when it applies.
    pub(super) fn with_callback_offer(
        &self,
        mut prompts: Vec<Arc<str>>,
        ewt_s: Option<f64>,
    ) -> Vec<Arc<str>> {
        if let Some(k) = self.callback_key() {
            let long = ewt_s.is_none_or(|s| s >= k.offer_after.as_secs_f64());
            if long {
                prompts.extend(offer_prompts(k.key).into_iter().map(Arc::from));
            }
        }
        prompts
    }

    /// A digit while waiting in a queue: the callback key starts the dialogue, and during
    /// it every digit is the dialogue's. `true` when the digit was taken here.
    pub(super) fn queue_callback_digit(&mut self, now: Instant, digit: char) -> bool {
        let Some(k) = self.callback_key() else {
            return false;
        };
        // The caller ID's digits (the dialogue reads back digits; the trunk's plan reads
        // them as a number again when the service books it).
        let caller = self.setup.caller.trim_start_matches('+').to_string();
        let lang = self.setup.language;
        let Some(w) = self.queue.as_mut() else {
            return false;
        };
        if let Some(d) = w.callback.as_mut() {
            d.digit(now, digit);
        } else if digit == k.key && w.entry.is_some() {
            // (Not before the ACD took the caller in: the place must exist to be kept.)
            w.callback = Some(CallbackDialogue::new(now, lang, Some(caller)));
            w.end_announcement(now);
        } else {
            return false;
        }
        self.drain_callback(now);
        true
    }

    /// A play of the dialogue ended: `true` when it was one.
    pub(super) fn queue_callback_prompt_done(&mut self, now: Instant, id: PlayId) -> bool {
        if id.0 & DIALOGUE == 0 {
            return false;
        }
        if let Some(w) = self.queue.as_mut() {
            // Only the latest play counts: one replaced or stopped says nothing.
            if let (Some(d), true) = (w.callback.as_mut(), id.0 == DIALOGUE | w.callback_play) {
                d.prompt_done(now);
            }
        }
        self.drain_callback(now);
        true
    }

    pub(super) fn queue_callback_timeout(&mut self, now: Instant) {
        if let Some(d) = self.queue.as_mut().and_then(|w| w.callback.as_mut()) {
            d.handle_timeout(now);
        }
        self.drain_callback(now);
    }

    pub(super) fn queue_callback_poll_timeout(&self) -> Option<Instant> {
        self.queue
            .as_ref()
            .and_then(|w| w.callback.as_ref())
            .and_then(CallbackDialogue::poll_timeout)
    }

    /// Is a callback dialogue running?
    pub(super) fn in_callback_dialogue(&self) -> bool {
        self.queue.as_ref().is_some_and(|w| w.callback.is_some())
    }

    /// The callback service's answer to the request.
    pub fn handle_callback_booked(&mut self, now: Instant, booking: Booking) {
        if !matches!(self.state, State::Up) {
            return;
        }
        if let Some(d) = self.queue.as_mut().and_then(|w| w.callback.as_mut()) {
            d.booked(now, booking);
        }
        self.drain_callback(now);
    }

    fn drain_callback(&mut self, now: Instant) {
        loop {
            let Some(w) = self.queue.as_mut() else {
                return;
            };
            let Some(d) = w.callback.as_mut() else {
                return;
            };
            let Some(out) = d.poll_output() else {
                return;
            };
            match out {
                Output::Play(names) => {
                    w.callback_play = (w.callback_play + 1) & !DIALOGUE;
                    let n = w.callback_play;
                    let prompts = names.into_iter().map(Arc::from).collect();
                    self.out.push_back(CallAction::Media(MediaCommand::Play {
                        id: PlayId(DIALOGUE | (n & !DIALOGUE)),
                        prompts,
                    }));
                }
                Output::Stop => self
                    .out
                    .push_back(CallAction::Media(MediaCommand::StopPlayback)),
                Output::Request { number, when } => {
                    let waited = w
                        .entered
                        .map(|e| now.saturating_duration_since(e))
                        .unwrap_or_default();
                    self.out.push_back(CallAction::RequestCallback {
                        queue: Arc::clone(&w.queue),
                        number,
                        when,
                        waited,
                        priority: self.queue_priority,
                    });
                }
                Output::Finish(End::BackToQueue) => {
                    w.callback = None;
                    let music = Arc::clone(&w.music);
                    self.out
                        .push_back(CallAction::Media(MediaCommand::MusicOnHold {
                            class: music,
                        }));
                }
                Output::Finish(End::HangUp) => {
                    // Booked: the callback keeps the place; the caller leaves the line.
                    let w = self.queue.take().expect("checked above");
                    if w.offer.is_some() {
                        self.abandon_dial();
                    }
                    if let Some(entry) = w.entry {
                        self.out
                            .push_back(CallAction::QueueLeftForCallback { entry });
                    }
                    self.leave(HangupCause::CallbackBooked);
                    return;
                }
            }
        }
    }
}
