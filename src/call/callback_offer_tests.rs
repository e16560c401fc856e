#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use super::*;

/// The caller ID most tests start from.
const CALLER: &str = "7012";

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn drain(d: &mut CallbackDialogue) -> Vec<Output> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

fn play(names: &[&'static str]) -> Output {
    Output::Play(names.to_vec())
}

/// The confirmation question for `number`, after `preface` if any.
fn confirm(preface: Option<&'static str>, number: &str) -> Output {
    let mut names: Vec<&'static str> = preface.into_iter().collect();
    names.push(NUMBER_IS);
    names.extend(number_prompts(number));
    names.push(CONFIRM);
    Output::Play(names)
}

fn request(number: &str, when: Choice) -> Output {
    Output::Request {
        number: number.to_string(),
        when,
    }
}

/// A dialogue for [`CALLER`] whose first question has been drained (and has not finished
/// playing).
fn started(t0: Instant) -> CallbackDialogue {
    let mut d = CallbackDialogue::new(t0, Lang::Ru, Some(CALLER.to_string()));
    assert_eq!(drain(&mut d), [confirm(None, CALLER)]);
    d
}

/// Keys `keys` at `now`, returning what they produced.
fn keys(d: &mut CallbackDialogue, now: Instant, keys: &str) -> Vec<Output> {
    for k in keys.chars() {
        d.digit(now, k);
    }
    drain(d)
}

/// A dialogue that has sent its request for [`CALLER`], as soon as possible.
fn requested(t0: Instant) -> CallbackDialogue {
    let mut d = started(t0);
    assert_eq!(keys(&mut d, at(t0, 1000), "1"), [play(&[WHEN])]);
    d.prompt_done(at(t0, 4000));
    assert_eq!(
        keys(&mut d, at(t0, 5000), "1"),
        [request(CALLER, Choice::Asap)]
    );
    d
}

#[test]
fn it_starts_by_reading_the_caller_number_back_digit_by_digit() {
    let t0 = Instant::now();
    let mut d = CallbackDialogue::new(t0, Lang::Kk, Some("77012".to_string()));
    assert_eq!(
        drain(&mut d),
        [play(&[
            NUMBER_IS, "num_7", "num_7", "num_0", "num_1", "num_2", CONFIRM
        ])]
    );
    assert_eq!(d.lang(), Lang::Kk);
    assert_eq!(d.poll_timeout(), None, "no timer while the question plays");
    let names = number_prompts("77012");
    assert_eq!(
        phrases::text(Lang::Ru, &names),
        "семь семь ноль один два",
        "a phone number is said digit by digit"
    );
    let mut said = vec![NUMBER_IS];
    said.extend(number_prompts("0"));
    assert_eq!(
        phrases::text(Lang::En, &said),
        "We will call you back at the number zero"
    );
    assert_eq!(
        phrases::text(Lang::Kk, &said),
        "Біз сізге мына нөмірге кері қоңырау шаламыз: нөл"
    );
}

#[test]
fn without_a_usable_caller_number_it_asks_for_one() {
    let t0 = Instant::now();
    for caller in [
        None,
        Some("anonymous"),
        Some("12"),
        Some("+77011234567"),
        Some("1234567890123456"),
        Some(""),
    ] {
        let mut d = CallbackDialogue::new(t0, Lang::En, caller.map(str::to_string));
        assert_eq!(drain(&mut d), [play(&[ENTER_NUMBER])], "{caller:?}");
    }
    for caller in ["123", "123456789012345"] {
        let mut d = CallbackDialogue::new(t0, Lang::En, Some(caller.to_string()));
        assert_eq!(drain(&mut d), [confirm(None, caller)], "{caller:?}");
    }
}

#[test]
fn one_confirms_the_number_then_one_books_as_soon_as_possible_and_the_goodbye_hangs_up() {
    let t0 = Instant::now();
    let mut d = started(t0);
    d.prompt_done(at(t0, 6000));
    assert_eq!(d.poll_timeout(), Some(at(t0, 16_000)));
    assert_eq!(keys(&mut d, at(t0, 7000), "1"), [play(&[WHEN])]);
    assert_eq!(d.poll_timeout(), None);
    d.prompt_done(at(t0, 11_000));
    assert_eq!(d.poll_timeout(), Some(at(t0, 21_000)));
    assert_eq!(
        keys(&mut d, at(t0, 12_000), "1"),
        [request(CALLER, Choice::Asap)]
    );
    assert_eq!(d.poll_timeout(), None, "the service's answer is awaited");
    d.handle_timeout(at(t0, 60_000));
    assert_eq!(drain(&mut d), []);
    d.booked(at(t0, 12_050), Booking::Asap);
    assert_eq!(drain(&mut d), [play(&[BOOKED_ASAP])]);
    assert!(!d.is_finished());
    d.prompt_done(at(t0, 20_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::HangUp)]);
    assert!(d.is_finished());
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn booked_for_the_next_working_day_says_so_then_hangs_up() {
    let t0 = Instant::now();
    let mut d = requested(t0);
    d.booked(at(t0, 5100), Booking::NextWorkingDay);
    assert_eq!(drain(&mut d), [play(&[BOOKED_NEXT_DAY])]);
    d.prompt_done(at(t0, 12_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::HangUp)]);
}

#[test]
fn two_then_an_hour_requests_that_hour_and_the_booking_says_it() {
    let t0 = Instant::now();
    let mut d = started(t0);
    assert_eq!(keys(&mut d, at(t0, 1000), "1"), [play(&[WHEN])]);
    assert_eq!(keys(&mut d, at(t0, 2000), "2"), [play(&[ENTER_HOUR])]);
    d.prompt_done(at(t0, 5000));
    assert_eq!(keys(&mut d, at(t0, 6000), "0"), []);
    assert_eq!(d.poll_timeout(), Some(at(t0, 16_000)));
    assert_eq!(
        keys(&mut d, at(t0, 7000), "9"),
        [request(CALLER, Choice::Hour(9))]
    );
    assert_eq!(d.poll_timeout(), None);
    d.booked(at(t0, 7100), Booking::AtHour(9));
    let goodbye = [BOOKED_AT, "num_9", OCLOCK];
    assert_eq!(drain(&mut d), [play(&goodbye)]);
    assert_eq!(
        phrases::text(Lang::Ru, &goodbye),
        "Спасибо. Мы перезвоним вам в девять часов. До свидания."
    );
    assert_eq!(
        phrases::text(Lang::En, &goodbye),
        "Thank you. We will call you back at nine o'clock. Goodbye."
    );
    d.prompt_done(at(t0, 12_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::HangUp)]);
}

#[test]
fn the_last_hour_is_eighteen_and_its_booking_says_eighteen() {
    let t0 = Instant::now();
    let mut d = started(t0);
    keys(&mut d, at(t0, 1000), "12");
    assert_eq!(
        keys(&mut d, at(t0, 2000), "18"),
        [Output::Stop, request(CALLER, Choice::Hour(18))]
    );
    d.booked(at(t0, 2100), Booking::AtHour(18));
    assert_eq!(drain(&mut d), [play(&[BOOKED_AT, "num_18", OCLOCK])]);
}

#[test]
fn an_hour_outside_nine_to_eighteen_is_invalid_and_asked_again() {
    let t0 = Instant::now();
    let mut d = started(t0);
    keys(&mut d, at(t0, 1000), "12");
    d.prompt_done(at(t0, 3000));
    assert_eq!(
        keys(&mut d, at(t0, 4000), "08"),
        [play(&[INVALID, ENTER_HOUR])]
    );
    assert_eq!(d.poll_timeout(), None);
    d.prompt_done(at(t0, 8000));
    assert_eq!(
        keys(&mut d, at(t0, 9000), "19"),
        [play(&[INVALID, ENTER_HOUR])]
    );
    assert_eq!(
        keys(&mut d, at(t0, 10_000), "10"),
        [Output::Stop, request(CALLER, Choice::Hour(10))],
        "the digits keyed before the invalid ones are forgotten"
    );
}

#[test]
fn two_asks_for_another_number_which_is_read_back_and_confirmed_again() {
    let t0 = Instant::now();
    let mut d = started(t0);
    assert_eq!(keys(&mut d, at(t0, 1000), "2"), [play(&[ENTER_NUMBER])]);
    assert_eq!(
        keys(&mut d, at(t0, 2000), "7"),
        [Output::Stop],
        "the first digit cuts the question"
    );
    assert_eq!(d.poll_timeout(), Some(at(t0, 12_000)));
    assert_eq!(keys(&mut d, at(t0, 3000), "172"), []);
    assert_eq!(d.poll_timeout(), Some(at(t0, 13_000)));
    assert_eq!(keys(&mut d, at(t0, 4000), "#"), [confirm(None, "7172")]);
    assert_eq!(d.poll_timeout(), None);
    d.prompt_done(at(t0, 9000));
    assert_eq!(keys(&mut d, at(t0, 10_000), "1"), [play(&[WHEN])]);
    assert_eq!(
        keys(&mut d, at(t0, 11_000), "1"),
        [Output::Stop, request("7172", Choice::Asap)]
    );
}

#[test]
fn the_number_read_back_can_be_replaced_again() {
    let t0 = Instant::now();
    let mut d = CallbackDialogue::new(t0, Lang::Ru, None);
    assert_eq!(drain(&mut d), [play(&[ENTER_NUMBER])]);
    d.prompt_done(at(t0, 3000));
    assert_eq!(keys(&mut d, at(t0, 4000), "111#"), [confirm(None, "111")]);
    assert_eq!(keys(&mut d, at(t0, 5000), "2"), [play(&[ENTER_NUMBER])]);
    assert_eq!(
        keys(&mut d, at(t0, 6000), "222#"),
        [Output::Stop, confirm(None, "222")]
    );
    assert_eq!(
        keys(&mut d, at(t0, 7000), "12"),
        [play(&[WHEN]), play(&[ENTER_HOUR])]
    );
    assert_eq!(
        keys(&mut d, at(t0, 8000), "11"),
        [Output::Stop, request("222", Choice::Hour(11))]
    );
}

#[test]
fn a_number_shorter_than_three_digits_is_invalid() {
    let t0 = Instant::now();
    let mut d = CallbackDialogue::new(t0, Lang::En, None);
    drain(&mut d);
    assert_eq!(
        keys(&mut d, at(t0, 1000), "12#"),
        [Output::Stop, play(&[INVALID, ENTER_NUMBER])]
    );
    assert_eq!(
        keys(&mut d, at(t0, 2000), "#"),
        [play(&[INVALID, ENTER_NUMBER])],
        "no digits at all"
    );
    assert_eq!(
        keys(&mut d, at(t0, 3000), "123#"),
        [Output::Stop, confirm(None, "123")],
        "digits before the invalid answer are forgotten"
    );
}

#[test]
fn a_number_longer_than_fifteen_digits_is_invalid_at_the_sixteenth() {
    let t0 = Instant::now();
    let mut d = CallbackDialogue::new(t0, Lang::En, None);
    drain(&mut d);
    assert_eq!(
        keys(&mut d, at(t0, 1000), "123456789012345#"),
        [Output::Stop, confirm(None, "123456789012345")]
    );
    assert_eq!(keys(&mut d, at(t0, 2000), "2"), [play(&[ENTER_NUMBER])]);
    assert_eq!(
        keys(&mut d, at(t0, 3000), "1234567890123456"),
        [Output::Stop, play(&[INVALID, ENTER_NUMBER])]
    );
}

#[test]
fn an_invalid_key_says_so_and_asks_the_current_question_again() {
    let t0 = Instant::now();
    let mut d = started(t0);
    assert_eq!(
        keys(&mut d, at(t0, 1000), "5"),
        [confirm(Some(INVALID), CALLER)]
    );
    assert_eq!(keys(&mut d, at(t0, 2000), "1"), [play(&[WHEN])]);
    assert_eq!(keys(&mut d, at(t0, 3000), "#"), [play(&[INVALID, WHEN])]);
    d.prompt_done(at(t0, 8000));
    assert_eq!(d.poll_timeout(), Some(at(t0, 18_000)));
    assert_eq!(
        keys(&mut d, at(t0, 9000), "1"),
        [request(CALLER, Choice::Asap)]
    );
    assert_eq!(
        phrases::text(Lang::En, &[INVALID, WHEN]),
        "That key is not valid. Press 1 to be called back as soon as an operator is free, or 2 \
         to choose an hour."
    );
}

#[test]
fn the_third_invalid_answer_of_the_dialogue_returns_to_the_queue_after_saying_so() {
    let t0 = Instant::now();
    let mut d = started(t0);
    assert_eq!(
        keys(&mut d, at(t0, 1000), "9"),
        [confirm(Some(INVALID), CALLER)]
    );
    assert_eq!(keys(&mut d, at(t0, 2000), "1"), [play(&[WHEN])]);
    assert_eq!(keys(&mut d, at(t0, 3000), "A"), [play(&[INVALID, WHEN])]);
    assert_eq!(keys(&mut d, at(t0, 4000), "2"), [play(&[ENTER_HOUR])]);
    assert_eq!(
        keys(&mut d, at(t0, 5000), "25"),
        [Output::Stop, play(&[INVALID])],
        "three invalid answers in three questions"
    );
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(keys(&mut d, at(t0, 6000), "1*"), [], "keys are ignored now");
    d.prompt_done(at(t0, 7000));
    assert_eq!(drain(&mut d), [Output::Finish(End::BackToQueue)]);
}

#[test]
fn silence_after_a_question_asks_it_once_more_then_returns_to_the_queue() {
    let t0 = Instant::now();
    let mut d = started(t0);
    d.handle_timeout(at(t0, 100_000));
    assert_eq!(drain(&mut d), [], "no timer while the question plays");
    d.prompt_done(at(t0, 5000));
    assert_eq!(d.poll_timeout(), Some(at(t0, 15_000)));
    d.handle_timeout(at(t0, 14_999));
    assert_eq!(drain(&mut d), [], "early");
    d.handle_timeout(at(t0, 15_000));
    assert_eq!(drain(&mut d), [confirm(None, CALLER)]);
    assert_eq!(d.poll_timeout(), None);
    d.handle_timeout(at(t0, 15_000));
    assert_eq!(drain(&mut d), [], "repeated");
    d.prompt_done(at(t0, 20_000));
    assert_eq!(d.poll_timeout(), Some(at(t0, 30_000)));
    d.handle_timeout(at(t0, 30_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::BackToQueue)]);
    assert!(d.is_finished());
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn a_key_after_the_repeat_gives_the_next_question_its_own_repeat() {
    let t0 = Instant::now();
    let mut d = started(t0);
    d.prompt_done(at(t0, 5000));
    d.handle_timeout(at(t0, 15_000));
    assert_eq!(drain(&mut d), [confirm(None, CALLER)]);
    d.prompt_done(at(t0, 20_000));
    assert_eq!(keys(&mut d, at(t0, 21_000), "1"), [play(&[WHEN])]);
    d.prompt_done(at(t0, 25_000));
    d.handle_timeout(at(t0, 35_000));
    assert_eq!(drain(&mut d), [play(&[WHEN])]);
    d.prompt_done(at(t0, 40_000));
    d.handle_timeout(at(t0, 50_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::BackToQueue)]);
}

#[test]
fn silence_while_keying_a_number_asks_for_it_afresh() {
    let t0 = Instant::now();
    let mut d = CallbackDialogue::new(t0, Lang::Ru, None);
    drain(&mut d);
    d.prompt_done(at(t0, 3000));
    assert_eq!(keys(&mut d, at(t0, 4000), "77"), []);
    assert_eq!(d.poll_timeout(), Some(at(t0, 14_000)));
    assert_eq!(keys(&mut d, at(t0, 9000), "0"), []);
    assert_eq!(
        d.poll_timeout(),
        Some(at(t0, 19_000)),
        "each digit restarts it"
    );
    d.handle_timeout(at(t0, 14_000));
    assert_eq!(drain(&mut d), [], "the deadline moved");
    d.handle_timeout(at(t0, 19_000));
    assert_eq!(drain(&mut d), [play(&[ENTER_NUMBER])]);
    assert_eq!(
        keys(&mut d, at(t0, 20_000), "123#"),
        [Output::Stop, confirm(None, "123")],
        "the digits keyed before the silence are forgotten"
    );
}

#[test]
fn silence_while_keying_the_hour_asks_for_it_once_more_then_returns_to_the_queue() {
    let t0 = Instant::now();
    let mut d = started(t0);
    keys(&mut d, at(t0, 1000), "12");
    assert_eq!(keys(&mut d, at(t0, 2000), "1"), [Output::Stop]);
    d.handle_timeout(at(t0, 12_000));
    assert_eq!(drain(&mut d), [play(&[ENTER_HOUR])]);
    d.prompt_done(at(t0, 15_000));
    d.handle_timeout(at(t0, 25_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::BackToQueue)]);
}

#[test]
fn a_finished_play_reported_after_a_barge_in_changes_nothing() {
    let t0 = Instant::now();
    let mut d = CallbackDialogue::new(t0, Lang::Ru, None);
    drain(&mut d);
    assert_eq!(keys(&mut d, at(t0, 1000), "7"), [Output::Stop]);
    d.prompt_done(at(t0, 1500));
    assert_eq!(drain(&mut d), []);
    assert_eq!(d.poll_timeout(), Some(at(t0, 11_000)));
}

#[test]
fn star_returns_to_the_queue_at_once_from_any_question() {
    let t0 = Instant::now();
    // Confirming, while the question plays.
    let mut d = started(t0);
    assert_eq!(
        keys(&mut d, at(t0, 500), "*"),
        [Output::Finish(End::BackToQueue)]
    );
    assert!(d.is_finished());
    // Keying a number.
    let mut d = CallbackDialogue::new(t0, Lang::Ru, None);
    drain(&mut d);
    assert_eq!(
        keys(&mut d, at(t0, 500), "70*"),
        [Output::Stop, Output::Finish(End::BackToQueue)]
    );
    // When, after the question has played.
    let mut d = started(t0);
    keys(&mut d, at(t0, 500), "1");
    d.prompt_done(at(t0, 3000));
    assert_eq!(
        keys(&mut d, at(t0, 4000), "*"),
        [Output::Finish(End::BackToQueue)]
    );
    assert_eq!(d.poll_timeout(), None);
    // Keying the hour.
    let mut d = started(t0);
    keys(&mut d, at(t0, 500), "12");
    assert_eq!(
        keys(&mut d, at(t0, 1000), "1*"),
        [Output::Stop, Output::Finish(End::BackToQueue)]
    );
    // After an invalid key, while "invalid" plays.
    let mut d = started(t0);
    keys(&mut d, at(t0, 500), "4");
    assert_eq!(
        keys(&mut d, at(t0, 1000), "*"),
        [Output::Finish(End::BackToQueue)]
    );
}

#[test]
fn once_the_request_is_sent_keys_are_ignored_and_the_answer_decides() {
    let t0 = Instant::now();
    let mut d = requested(t0);
    assert_eq!(keys(&mut d, at(t0, 5100), "*12#"), []);
    d.booked(at(t0, 5200), Booking::Asap);
    assert_eq!(drain(&mut d), [play(&[BOOKED_ASAP])]);
    assert_eq!(
        keys(&mut d, at(t0, 6000), "*"),
        [],
        "the callback is booked: the goodbye plays on"
    );
    d.prompt_done(at(t0, 12_000));
    assert_eq!(drain(&mut d), [Output::Finish(End::HangUp)]);
}

#[test]
fn a_duplicate_or_a_do_not_contact_number_says_so_then_returns_to_the_queue() {
    for (booking, prompt) in [
        (Booking::Duplicate, ALREADY_BOOKED),
        (Booking::DoNotContact, CANNOT_CALL),
    ] {
        let t0 = Instant::now();
        let mut d = requested(t0);
        d.booked(at(t0, 5100), booking);
        assert_eq!(drain(&mut d), [play(&[prompt])], "{booking:?}");
        assert_eq!(d.poll_timeout(), None);
        d.prompt_done(at(t0, 9000));
        assert_eq!(
            drain(&mut d),
            [Output::Finish(End::BackToQueue)],
            "{booking:?}"
        );
    }
}

#[test]
fn a_closed_hour_says_so_and_asks_when_again() {
    let t0 = Instant::now();
    let mut d = started(t0);
    keys(&mut d, at(t0, 1000), "12");
    assert_eq!(
        keys(&mut d, at(t0, 2000), "17"),
        [Output::Stop, request(CALLER, Choice::Hour(17))]
    );
    d.booked(at(t0, 2100), Booking::HourClosed);
    assert_eq!(drain(&mut d), [play(&[HOUR_CLOSED, WHEN])]);
    assert_eq!(d.poll_timeout(), None);
    d.prompt_done(at(t0, 8000));
    assert_eq!(d.poll_timeout(), Some(at(t0, 18_000)));
    assert_eq!(
        keys(&mut d, at(t0, 9000), "1"),
        [request(CALLER, Choice::Asap)]
    );
    d.booked(at(t0, 9100), Booking::Asap);
    assert_eq!(drain(&mut d), [play(&[BOOKED_ASAP])]);
}

#[test]
fn an_answer_nobody_asked_for_is_ignored() {
    let t0 = Instant::now();
    let mut d = started(t0);
    d.booked(at(t0, 1000), Booking::Asap);
    assert_eq!(drain(&mut d), []);
    assert_eq!(keys(&mut d, at(t0, 2000), "1"), [play(&[WHEN])]);
    // A second answer to one request.
    let mut d = requested(t0);
    d.booked(at(t0, 5100), Booking::Asap);
    drain(&mut d);
    d.booked(at(t0, 5200), Booking::DoNotContact);
    assert_eq!(drain(&mut d), []);
}

#[test]
fn after_the_end_every_input_is_ignored() {
    let t0 = Instant::now();
    let mut d = started(t0);
    keys(&mut d, at(t0, 1000), "*");
    assert!(d.is_finished());
    d.digit(at(t0, 2000), '1');
    d.prompt_done(at(t0, 3000));
    d.handle_timeout(at(t0, 100_000));
    d.booked(at(t0, 4000), Booking::Asap);
    assert_eq!(drain(&mut d), []);
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn the_offer_names_the_key_with_its_digit() {
    assert_eq!(offer_prompts('1'), [OFFER, "num_1"]);
    assert_eq!(offer_prompts('0'), [OFFER, "num_0"]);
    assert_eq!(offer_prompts('9'), [OFFER, "num_9"]);
    assert_eq!(offer_prompts('*'), Vec::<&str>::new(), "no prompt says '*'");
    assert_eq!(offer_prompts('#'), Vec::<&str>::new());
    assert_eq!(
        phrases::text(Lang::En, &offer_prompts('3')),
        "To be called back without losing your place in the queue, press three"
    );
    assert_eq!(
        phrases::text(Lang::Ru, &offer_prompts('3')),
        "Чтобы мы перезвонили вам без потери места в очереди, нажмите три"
    );
}

#[test]
fn every_prompt_the_dialogue_plays_is_listed_and_has_words_in_every_language() {
    let all = all_prompt_names();
    let mut used: Vec<&'static str> = offer_prompts('0');
    used.extend(number_prompts("0123456789"));
    for hour in HOURS {
        used.extend(phrases::number(u32::from(hour), Gender::Masculine));
    }
    used.extend([
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
    ]);
    for name in &used {
        assert!(all.contains(name), "{name} is not listed");
    }
    for lang in Lang::ALL {
        for name in &all {
            assert!(
                !phrases::text(lang, &[*name]).contains('<'),
                "{name} has no words in {}",
                lang.as_str()
            );
        }
    }
    assert_eq!(
        phrases::text(Lang::En, &[TO_CUSTOMER]),
        "Hello. This is the contact centre calling you back, as you asked. An operator will \
         speak to you now."
    );
}
