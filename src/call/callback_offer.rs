//! The dialogue in which a caller waiting in a queue books a callback (MISSION §1.7), sans-IO:
//! no sockets, no clock; every input brings its `now`. Not wired into the call core yet: the
//! owner plays what [`Output::Play`] names (prompts of `sounds/<lang>/<name>.wav`, words in
//! `src/acd/phrases.tsv`), sends [`Output::Request`] to the callback service and hands its
//! answer back with [`CallbackDialogue::booked`].
//!
//! **The dialogue.** The caller's number (from the caller ID) is read back digit by digit and
//! confirmed: '1' confirms, '2' asks for another one (digits, then '#'; 3–15 digits), which is
//! read back and confirmed in turn. Then when: '1' as soon as an operator is free, '2' an hour
//! (two digits, 09–18). Then the request, and the service's answer: booked (a thank-you, then
//! [`End::HangUp`] once it has played), refused (why, then [`End::BackToQueue`]), or the hour is
//! closed (said, then the when-question again).
//!
//! **Keys.** A key pressed while a prompt plays is taken (barge-in): a menu answer replaces the
//! prompt with the next one; the first digit of a number or an hour stops it
//! ([`Output::Stop`]). A key that does not answer the question is invalid: `callback_invalid`
//! and the question again; the third invalid key of the dialogue ends it (`callback_invalid`,
//! then back to the queue). '*' returns to the queue at once while the dialogue asks; once the
//! request is sent the service's answer decides, and keys are ignored.
//!
//! **Silence.** [`NO_KEY`] after a question has finished playing (or after the last digit of a
//! number or hour being keyed) asks the question once more, starting the entry afresh; silence
//! again, with no key in between, returns the caller to the queue.
//!
//! `prompt_done` reports the end of the latest [`Output::Play`] only: a play that was replaced
//! or stopped is not reported. After [`Output::Finish`] the dialogue ignores every input.

use std::collections::{BTreeSet, VecDeque};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::acd::phrases::{self, Gender, Lang};

/// "To be called back without losing your place in the queue, press …" (then the key).
pub const OFFER: &str = "callback_offer";
/// "We will call you back at the number …" (then the digits).
pub const NUMBER_IS: &str = "callback_number_is";
/// "Press 1 to confirm, or 2 to enter another number."
pub const CONFIRM: &str = "callback_confirm";
/// "Enter the number with its area code, then press the hash key."
pub const ENTER_NUMBER: &str = "callback_enter_number";
/// "Press 1 to be called back as soon as an operator is free, or 2 to choose an hour."
pub const WHEN: &str = "callback_when";
/// "Enter the hour as two digits, from 09 to 18."
pub const ENTER_HOUR: &str = "callback_enter_hour";
/// "Thank you. We will call you back as soon as an operator is free. …"
pub const BOOKED_ASAP: &str = "callback_booked_asap";
/// "Thank you. We are closed now: we will call you back on the next working day, …"
pub const BOOKED_NEXT_DAY: &str = "callback_booked_next_day";
/// "Thank you. We will call you back at …" (then the hour and [`OCLOCK`]).
pub const BOOKED_AT: &str = "callback_booked_at";
/// "… o'clock. Goodbye." Russian "часов" agrees with every hour from 5 to 20.
pub const OCLOCK: &str = "callback_oclock";
/// "A callback to this number is already booked. You may stay on the line."
pub const ALREADY_BOOKED: &str = "callback_already_booked";
/// "We cannot call this number back. Please stay on the line." (do not contact)
pub const CANNOT_CALL: &str = "callback_cannot_call";
/// "We cannot call at that hour."
pub const HOUR_CLOSED: &str = "callback_hour_closed";
/// "That key is not valid."
pub const INVALID: &str = "callback_invalid";
/// What the called-back customer hears first: who calls and why (MISSION §1.7, the reason
/// first). For the outbound leg; this dialogue does not play it.
pub const TO_CUSTOMER: &str = "callback_to_customer";
/// What the agent reserved for a callback hears before the customer is dialled. For the
/// outbound leg; this dialogue does not play it.
pub const TO_AGENT: &str = "callback_to_agent";
/// The digits 0..=9 as said in a phone number (index = digit).
pub const DIGITS: [&str; 10] = [
    "num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6", "num_7", "num_8", "num_9",
];

/// How long the caller has to press a key after a question has played (or after a digit).
pub const NO_KEY: Duration = Duration::from_secs(10);
/// Invalid keys in one dialogue that return the caller to the queue.
pub const MAX_INVALID: u32 = 3;
/// How many digits a number to call back may have.
pub const NUMBER_LEN: RangeInclusive<usize> = 3..=15;
/// The hours a caller may choose.
pub const HOURS: RangeInclusive<u8> = 9..=18;

/// The callback service's answer to an [`Output::Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Booking {
    /// Booked: called back as soon as an operator is free; the place in the queue is kept.
    Asap,
    /// Booked, but the centre is closed: called back on the next working day, in turn.
    NextWorkingDay,
    /// Booked at this hour.
    AtHour(u8),
    /// A callback to this number is already pending.
    Duplicate,
    /// The number is flagged do-not-contact.
    DoNotContact,
    /// The chosen hour is outside permitted hours.
    HourClosed,
}

/// When the caller asked to be called back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// As soon as an operator is free.
    Asap,
    /// At this hour (one of [`HOURS`]), local time.
    Hour(u8),
}

/// How the dialogue ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The callback is booked and the goodbye has played: hang up.
    HangUp,
    /// The caller keeps waiting in the queue (their place was never given up): stop whatever
    /// the dialogue plays and go back to music on hold.
    BackToQueue,
}

/// What the owner must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Play these prompts in order, replacing whatever plays; report the end with
    /// [`CallbackDialogue::prompt_done`].
    Play(Vec<&'static str>),
    /// Stop what plays (the caller started keying a number or an hour); nothing replaces it.
    Stop,
    /// Ask the callback service for this callback; answer with [`CallbackDialogue::booked`].
    Request { number: String, when: Choice },
    /// The dialogue is over.
    Finish(End),
}

/// One caller's callback dialogue. See the module documentation for the rules.
#[derive(Debug)]
pub struct CallbackDialogue {
    lang: Lang,
    state: State,
    /// A `Play` has not been reported done (nor stopped).
    playing: bool,
    /// When silence asks again (or gives up); set only while waiting for a key.
    deadline: Option<Instant>,
    /// The question was asked again for silence, and no key came since.
    repeated_for_silence: bool,
    invalid: u32,
    out: VecDeque<Output>,
}

#[derive(Debug)]
enum State {
    /// Is `number` right? ('1' yes, '2' another one)
    Confirm {
        number: String,
    },
    /// Keying another number, up to '#'.
    EnterNumber {
        digits: String,
    },
    /// As soon as possible ('1') or at an hour ('2')?
    When {
        number: String,
    },
    /// Keying the hour's two digits.
    EnterHour {
        number: String,
        digits: String,
    },
    /// The request is out; waiting for [`CallbackDialogue::booked`].
    Requested {
        number: String,
    },
    /// The last prompt plays; then the dialogue ends so.
    Closing(End),
    Finished,
}

impl CallbackDialogue {
    /// Starts the dialogue: the caller's number read back for confirmation, or, without a
    /// usable one (not 3–15 digits, e.g. anonymous), the question for the number.
    pub fn new(_now: Instant, lang: Lang, caller_number: Option<String>) -> CallbackDialogue {
        let state = match caller_number.filter(|n| usable_number(n)) {
            Some(number) => State::Confirm { number },
            None => State::EnterNumber {
                digits: String::new(),
            },
        };
        let mut dialogue = CallbackDialogue {
            lang,
            state,
            playing: false,
            deadline: None,
            repeated_for_silence: false,
            invalid: 0,
            out: VecDeque::new(),
        };
        dialogue.ask(None);
        dialogue
    }

    /// The caller's language, for the prompts [`Output::Play`] names.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// `true` once [`Output::Finish`] has been emitted.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`CallbackDialogue::handle_timeout`] is due; `None` while a prompt plays, the
    /// service is asked, or the dialogue is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// A key from the caller: '0'..='9', '*', '#' (anything else is an invalid key).
    pub fn digit(&mut self, now: Instant, key: char) {
        if !self.asking() {
            return;
        }
        if key == '*' {
            self.finish(End::BackToQueue);
            return;
        }
        self.repeated_for_silence = false;
        self.deadline = None;
        let state = std::mem::replace(&mut self.state, State::Finished);
        match (state, key) {
            (State::Confirm { number }, '1') => {
                self.state = State::When { number };
                self.ask(None);
            }
            (State::Confirm { .. }, '2') => {
                self.state = State::EnterNumber {
                    digits: String::new(),
                };
                self.ask(None);
            }
            (State::When { number }, '1') => self.request(number, Choice::Asap),
            (State::When { number }, '2') => {
                self.state = State::EnterHour {
                    number,
                    digits: String::new(),
                };
                self.ask(None);
            }
            (State::EnterNumber { digits }, '#') if NUMBER_LEN.contains(&digits.len()) => {
                self.state = State::Confirm { number: digits };
                self.ask(None);
            }
            (State::EnterNumber { mut digits }, '0'..='9') if digits.len() < *NUMBER_LEN.end() => {
                digits.push(key);
                self.state = State::EnterNumber { digits };
                self.keying(now);
            }
            (State::EnterHour { number, mut digits }, '0'..='9') => {
                digits.push(key);
                if digits.len() < 2 {
                    self.state = State::EnterHour { number, digits };
                    self.keying(now);
                    return;
                }
                match digits.parse::<u8>() {
                    Ok(hour) if HOURS.contains(&hour) => self.request(number, Choice::Hour(hour)),
                    _ => {
                        self.state = State::EnterHour {
                            number,
                            digits: String::new(),
                        };
                        self.invalid();
                    }
                }
            }
            (state, _) => {
                self.state = state;
                self.invalid();
            }
        }
    }

    /// The latest [`Output::Play`] has finished playing.
    pub fn prompt_done(&mut self, now: Instant) {
        if !self.playing {
            return;
        }
        self.playing = false;
        match self.state {
            State::Closing(end) => self.finish(end),
            State::Requested { .. } | State::Finished => {}
            _ => self.deadline = Some(now + NO_KEY),
        }
    }

    /// Call at or after [`CallbackDialogue::poll_timeout`]; early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.deadline = None;
        if self.repeated_for_silence {
            self.finish(End::BackToQueue);
            return;
        }
        self.repeated_for_silence = true;
        self.restart_entry();
        self.ask(None);
    }

    /// The callback service's answer to the [`Output::Request`]; ignored at any other time.
    pub fn booked(&mut self, _now: Instant, booking: Booking) {
        let State::Requested { number } = &mut self.state else {
            return;
        };
        let number = std::mem::take(number);
        let (prompts, end) = match booking {
            Booking::Asap => (vec![BOOKED_ASAP], End::HangUp),
            Booking::NextWorkingDay => (vec![BOOKED_NEXT_DAY], End::HangUp),
            Booking::AtHour(hour) => {
                let mut p = vec![BOOKED_AT];
                p.extend(phrases::number(u32::from(hour), Gender::Masculine));
                p.push(OCLOCK);
                (p, End::HangUp)
            }
            Booking::Duplicate => (vec![ALREADY_BOOKED], End::BackToQueue),
            Booking::DoNotContact => (vec![CANNOT_CALL], End::BackToQueue),
            Booking::HourClosed => {
                self.state = State::When { number };
                self.ask(Some(HOUR_CLOSED));
                return;
            }
        };
        self.state = State::Closing(end);
        self.play(prompts);
    }

    /// The dialogue is asking a question (not waiting for the service, not closing).
    fn asking(&self) -> bool {
        matches!(
            self.state,
            State::Confirm { .. }
                | State::EnterNumber { .. }
                | State::When { .. }
                | State::EnterHour { .. }
        )
    }

    /// Plays the current question, after `preface` if any.
    fn ask(&mut self, preface: Option<&'static str>) {
        let mut prompts: Vec<&'static str> = preface.into_iter().collect();
        match &self.state {
            State::Confirm { number } => {
                prompts.push(NUMBER_IS);
                prompts.extend(number_prompts(number));
                prompts.push(CONFIRM);
            }
            State::EnterNumber { .. } => prompts.push(ENTER_NUMBER),
            State::When { .. } => prompts.push(WHEN),
            State::EnterHour { .. } => prompts.push(ENTER_HOUR),
            _ => return,
        }
        self.play(prompts);
    }

    fn play(&mut self, prompts: Vec<&'static str>) {
        self.playing = true;
        self.deadline = None;
        self.out.push_back(Output::Play(prompts));
    }

    /// A digit of a number or an hour was taken: stop the question, wait for the next key.
    fn keying(&mut self, now: Instant) {
        if self.playing {
            self.playing = false;
            self.out.push_back(Output::Stop);
        }
        self.deadline = Some(now + NO_KEY);
    }

    /// A key that does not answer the question: say so and ask again, or give up.
    fn invalid(&mut self) {
        self.invalid += 1;
        self.restart_entry();
        if self.invalid >= MAX_INVALID {
            self.state = State::Closing(End::BackToQueue);
            self.play(vec![INVALID]);
        } else {
            self.ask(Some(INVALID));
        }
    }

    /// Forget the digits keyed so far, so the question asked again starts afresh.
    fn restart_entry(&mut self) {
        match &mut self.state {
            State::EnterNumber { digits } | State::EnterHour { digits, .. } => digits.clear(),
            _ => {}
        }
    }

    fn request(&mut self, number: String, when: Choice) {
        if self.playing {
            self.playing = false;
            self.out.push_back(Output::Stop);
        }
        self.deadline = None;
        self.out.push_back(Output::Request {
            number: number.clone(),
            when,
        });
        self.state = State::Requested { number };
    }

    fn finish(&mut self, end: End) {
        self.state = State::Finished;
        self.playing = false;
        self.deadline = None;
        self.out.push_back(Output::Finish(end));
    }
}

/// The prompts that offer a callback in the queue announcement: [`OFFER`] and the key's digit.
/// Empty for a key that is not a digit (there is nothing to say it with).
pub fn offer_prompts(key: char) -> Vec<&'static str> {
    match digit_prompt(key) {
        Some(digit) => vec![OFFER, digit],
        None => Vec::new(),
    }
}

/// The prompt that says the digit `key`, if it is one.
pub fn digit_prompt(key: char) -> Option<&'static str> {
    key.to_digit(10).map(|d| DIGITS[d as usize])
}

/// A number said digit by digit.
pub fn number_prompts(number: &str) -> Vec<&'static str> {
    number.chars().filter_map(digit_prompt).collect()
}

/// Every prompt the callback dialogue, its offer and the callback's outbound leg name; each
/// needs `sounds/<lang>/<name>.wav` in every language.
pub fn all_prompt_names() -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&'static str> = [
        OFFER,
        NUMBER_IS,
        CONFIRM,
        ENTER_NUMBER,
        WHEN,
        ENTER_HOUR,
        BOOKED_ASAP,
        BOOKED_NEXT_DAY,
        BOOKED_AT,
        OCLOCK,
        ALREADY_BOOKED,
        CANNOT_CALL,
        HOUR_CLOSED,
        INVALID,
        TO_CUSTOMER,
        TO_AGENT,
        crate::callback::call::PROMPT_NOT_REACHED,
    ]
    .into();
    names.extend(DIGITS);
    names.extend(HOURS.flat_map(|h| phrases::number(u32::from(h), Gender::Masculine)));
    names
}

/// A caller ID the dialogue can read back and call: 3–15 ASCII digits.
fn usable_number(number: &str) -> bool {
    NUMBER_LEN.contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[path = "callback_offer_tests.rs"]
mod tests;
