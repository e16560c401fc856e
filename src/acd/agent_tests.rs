#![allow(clippy::disallowed_methods)]

use super::*;

const S: Duration = Duration::from_secs(1);

fn agent() -> Agent {
    Agent::new(
        AgentId(7),
        AgentConfig {
            login: "aigerim".into(),
            extension: "2001".into(),
            skills: [("kk".to_string(), 5)].into(),
            queues: [QueueId(0)].into(),
        },
    )
}

fn on_call(t0: Instant) -> Agent {
    let mut a = agent();
    a.log_in(t0);
    a.offer(t0, EntryId(1), false);
    a.answered_offer(t0, EntryId(1), QueueId(0));
    a
}

#[test]
fn log_in_makes_the_agent_available_and_idle_from_then() {
    let t0 = Instant::now();
    let mut a = agent();
    let act = a.log_in(t0).expect("a change");
    assert_eq!(
        act,
        AgentActivity {
            agent: AgentId(7),
            from: AgentState::LoggedOut,
            to: AgentState::Available,
            reason: ActivityReason::LogIn,
            at: t0,
        }
    );
    assert!(a.is_free());
    assert_eq!(a.idle_since(), Some(t0));
    assert_eq!(a.log_in(t0 + S), None, "a second log-in changes nothing");
}

#[test]
fn an_answered_offer_puts_the_agent_on_the_call_and_counts_it() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    let act = a.offer(t0, EntryId(1), false);
    assert_eq!(act.to, AgentState::Ringing { entry: EntryId(1) });
    assert!(!a.is_free());
    let act = a.answered_offer(t0 + S, EntryId(1), QueueId(0));
    assert_eq!(
        act.to,
        AgentState::OnCall {
            entry: EntryId(1),
            queue: QueueId(0)
        }
    );
    assert_eq!(a.answered(), 1);
}

#[test]
fn a_callback_offer_reserves_the_agent() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    let act = a.offer(t0, EntryId(3), true);
    assert_eq!(act.to, AgentState::Reserved { entry: EntryId(3) });
    assert_eq!(act.reason, ActivityReason::ReservedForCallback);
    assert_eq!(a.offered_entry(), Some(EntryId(3)));
}

#[test]
fn call_end_starts_wrap_up_until_its_deadline_then_available() {
    let t0 = Instant::now();
    let mut a = on_call(t0);
    let act = a.call_ended(t0 + 60 * S, 20 * S);
    assert_eq!(act.to, AgentState::WrapUp { until: t0 + 80 * S });
    assert_eq!(a.deadline(), Some(t0 + 80 * S));
    assert_eq!(a.handle_timeout(t0 + 79 * S), None, "early: no change");
    let act = a.handle_timeout(t0 + 80 * S).expect("wrap-up over");
    assert_eq!(
        (act.from, act.to),
        (
            AgentState::WrapUp { until: t0 + 80 * S },
            AgentState::Available
        )
    );
    assert_eq!(a.idle_since(), Some(t0 + 80 * S));
    assert_eq!(a.handle_timeout(t0 + 80 * S), None, "repeated: no change");
}

#[test]
fn zero_wrap_up_makes_the_agent_available_at_call_end() {
    let t0 = Instant::now();
    let mut a = on_call(t0);
    assert_eq!(
        a.call_ended(t0 + S, Duration::ZERO).to,
        AgentState::Available
    );
}

#[test]
fn a_failed_offer_rests_the_agent_for_the_retry_delay() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    a.offer(t0, EntryId(1), false);
    let act = a.failed_offer(t0 + 15 * S, OfferFailure::NoAnswer, 5 * S, 3);
    assert_eq!(act.to, AgentState::RetryDelay { until: t0 + 20 * S });
    assert_eq!(
        act.reason,
        ActivityReason::OfferFailed {
            entry: EntryId(1),
            failure: OfferFailure::NoAnswer,
            missed_in_row: 1
        }
    );
    assert!(!a.is_free());
    assert_eq!(
        a.handle_timeout(t0 + 20 * S).map(|x| x.to),
        Some(AgentState::Available)
    );
    assert_eq!(a.idle_since(), Some(t0), "resting after a miss is not work");
}

#[test]
fn missed_offers_in_a_row_pause_the_agent_and_an_answer_resets_the_count() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    let miss = |a: &mut Agent, n: u64| {
        a.offer(t0, EntryId(n), false);
        a.failed_offer(t0, OfferFailure::Declined, Duration::ZERO, 2)
    };
    miss(&mut a, 1);
    a.offer(t0, EntryId(2), false);
    a.answered_offer(t0, EntryId(2), QueueId(0));
    a.call_ended(t0, Duration::ZERO);
    assert_eq!(
        miss(&mut a, 3).to,
        AgentState::Available,
        "one miss since the answer"
    );
    let act = miss(&mut a, 4);
    assert_eq!(
        act.to,
        AgentState::Paused {
            reason: PauseReason::MissedOffers
        }
    );
    assert_eq!(
        act.reason,
        ActivityReason::OfferFailed {
            entry: EntryId(4),
            failure: OfferFailure::Declined,
            missed_in_row: 2
        }
    );
    assert_eq!(PauseReason::MissedOffers.to_string(), "missed offers");
    a.resume(t0);
    assert_eq!(a.status().missed_in_row, 0, "resume starts the count again");
}

#[test]
fn busy_and_unreachable_do_not_count_as_missed() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    for (n, f) in [OfferFailure::Busy, OfferFailure::Unreachable]
        .into_iter()
        .enumerate()
    {
        a.offer(t0, EntryId(n as u64), false);
        assert_eq!(
            a.failed_offer(t0, f, Duration::ZERO, 1).to,
            AgentState::Available
        );
    }
    assert_eq!(a.status().missed_in_row, 0);
}

#[test]
fn zero_pause_after_never_pauses() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    for n in 0..50 {
        a.offer(t0, EntryId(n), false);
        a.failed_offer(t0, OfferFailure::NoAnswer, Duration::ZERO, 0);
    }
    assert_eq!(a.state(), &AgentState::Available);
}

#[test]
fn log_out_on_a_call_takes_effect_when_the_call_ends() {
    let t0 = Instant::now();
    let mut a = on_call(t0);
    let change = a.log_out(t0 + S).expect("noted");
    assert_eq!(change.activity.reason, ActivityReason::LogOutAfterCall);
    assert_eq!(
        change.activity.to, change.activity.from,
        "still on the call"
    );
    assert!(
        a.pause(t0 + S, PauseReason::Requested("lunch".into()))
            .is_none(),
        "log-out wins"
    );
    let act = a.call_ended(t0 + 2 * S, 30 * S);
    assert_eq!(act.to, AgentState::LoggedOut, "no wrap-up after a log-out");
}

#[test]
fn pause_on_a_call_takes_effect_when_the_call_ends_and_resume_cancels_it() {
    let t0 = Instant::now();
    let mut a = on_call(t0);
    a.pause(t0, PauseReason::Requested("lunch".into()));
    assert_eq!(
        a.call_ended(t0 + S, 30 * S).to,
        AgentState::Paused {
            reason: PauseReason::Requested("lunch".into())
        }
    );

    let mut a = on_call(t0);
    a.pause(t0, PauseReason::Requested("lunch".into()));
    assert_eq!(a.resume(t0), None, "not paused yet");
    assert_eq!(
        a.call_ended(t0 + S, 30 * S).to,
        AgentState::WrapUp { until: t0 + 31 * S }
    );
}

#[test]
fn log_out_while_ringing_withdraws_the_offer() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    a.offer(t0, EntryId(9), false);
    let change = a.log_out(t0).expect("logged out");
    assert_eq!(change.offer_withdrawn, Some(EntryId(9)));
    assert_eq!(change.activity.to, AgentState::LoggedOut);
    assert_eq!(a.idle_since(), None);
}

#[test]
fn busy_elsewhere_keeps_an_available_agent_from_offers_without_a_state_change() {
    let t0 = Instant::now();
    let mut a = agent();
    a.log_in(t0);
    let act = a.set_busy_elsewhere(t0, true).expect("logged");
    assert_eq!(
        (act.from, act.to),
        (AgentState::Available, AgentState::Available)
    );
    assert_eq!(act.reason, ActivityReason::BusyElsewhere { busy: true });
    assert!(!a.is_free());
    assert_eq!(a.set_busy_elsewhere(t0, true), None, "no change, no line");
    a.set_busy_elsewhere(t0, false);
    assert!(a.is_free());
}

#[test]
fn agent_config_validation_names_each_bad_skill() {
    let mut c = agent().config;
    c.skills.insert("ru".into(), 0);
    c.skills.insert("en".into(), 11);
    c.extension.clear();
    let issues: Vec<String> = c.validate().iter().map(|i| i.to_string()).collect();
    assert_eq!(
        issues,
        [
            "extension must not be empty",
            "skills.en = 11: a skill level is 1 to 10",
            "skills.ru = 0: a skill level is 1 to 10",
        ]
    );
}
