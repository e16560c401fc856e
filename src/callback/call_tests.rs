//! Tests of the callback call core in explicit time: every path from the agent's ring to the
//! end, the exact actions of each step, one outcome report per call, and a property test
//! over random event sequences.
#![allow(clippy::disallowed_methods)]
use super::*;
use crate::call::events::CallFact as F;
use CallbackCallAction as A;

const EXT: &str = "2001";
const NUMBER: &str = "+77011234567";

/// One call and every action it has emitted so far.
struct Run {
    call: CallbackCall,
    t0: Instant,
    all: Vec<A>,
}

impl Run {
    fn new() -> Run {
        let t0 = Instant::now();
        let call = CallbackCall::new(
            t0,
            CallbackCallSetup::new(CallbackId(7), EXT.into(), NUMBER.into()),
        );
        let mut run = Run {
            call,
            t0,
            all: Vec::new(),
        };
        assert_eq!(
            run.drain(),
            [A::RingAgent {
                extension: EXT.into()
            }]
        );
        run
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    /// Apply one input at `secs` and return what it emitted.
    fn step(&mut self, secs: u64, input: impl FnOnce(&mut CallbackCall, Instant)) -> Vec<A> {
        let now = self.at(secs);
        input(&mut self.call, now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<A> {
        let out: Vec<A> = std::iter::from_fn(|| self.call.poll_action()).collect();
        self.all.extend(out.iter().cloned());
        out
    }

    /// The agent answered at 2 s and heard their prompt until 8 s; the customer rings.
    fn customer_ringing() -> Run {
        let mut run = Run::new();
        run.step(1, CallbackCall::agent_ringing);
        run.step(2, CallbackCall::agent_answered);
        run.step(8, CallbackCall::agent_prompt_done);
        run
    }

    /// … and answered at 15 s; they hear the reason.
    fn customer_intro() -> Run {
        let mut run = Run::customer_ringing();
        run.step(15, CallbackCall::customer_answered);
        run
    }

    /// … which ended at 21 s: bridged.
    fn bridged() -> Run {
        let mut run = Run::customer_intro();
        run.step(21, CallbackCall::customer_prompt_done);
        run
    }

    /// … or the customer was busy at 12 s, and the agent hears so.
    fn not_reached() -> Run {
        let mut run = Run::customer_ringing();
        run.step(12, |c, now| c.customer_failed(now, Some(486)));
        run
    }

    fn reports(&self) -> Vec<CallbackReport> {
        reports(&self.all)
    }

    /// The call is over, and its whole life obeys the report rules.
    fn assert_finished(&self, end: CallbackEnd) {
        assert!(self.call.is_finished());
        assert_eq!(self.all.last(), Some(&A::Finished(end)));
        assert_eq!(self.call.poll_timeout(), None);
        check_life(&self.all).unwrap();
    }
}

fn reports(actions: &[A]) -> Vec<CallbackReport> {
    actions
        .iter()
        .filter_map(|a| match a {
            A::Report(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn is_outcome(r: &CallbackReport) -> bool {
    !matches!(r, CallbackReport::Placing)
}

/// The rules every call's whole life keeps: at most one outcome report (exactly one once
/// finished), `Placing` at most once and before any `Attempt`, `Finished` once and last.
fn check_life(all: &[A]) -> Result<(), String> {
    let reports = reports(all);
    let outcomes = reports.iter().filter(|r| is_outcome(r)).count();
    let finished = all.iter().filter(|a| matches!(a, A::Finished(_))).count();
    if finished > 1 || (finished == 1 && !matches!(all.last(), Some(A::Finished(_)))) {
        return Err(format!("Finished not once and last: {all:?}"));
    }
    if outcomes > 1 || (finished == 1 && outcomes != 1) {
        return Err(format!("{outcomes} outcome reports: {reports:?}"));
    }
    let placing: Vec<usize> = positions(&reports, |r| *r == CallbackReport::Placing);
    let attempts = positions(&reports, |r| matches!(r, CallbackReport::Attempt(_)));
    if placing.len() > 1 {
        return Err(format!("Placing twice: {reports:?}"));
    }
    if let Some(&a) = attempts.first() {
        if placing.first().is_none_or(|&p| p > a) {
            return Err(format!("an Attempt without Placing before it: {reports:?}"));
        }
    }
    Ok(())
}

fn positions<T>(items: &[T], f: impl Fn(&T) -> bool) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, x)| f(x))
        .map(|(i, _)| i)
        .collect()
}

fn attempt(status: Option<u16>, answered: bool) -> A {
    A::Report(CallbackReport::Attempt(AttemptOutcome { status, answered }))
}

fn failed(leg: LegId, status: Option<u16>, outcome: &str) -> A {
    let target = if leg == AGENT_LEG { EXT } else { NUMBER };
    A::Fact(F::LegFailed {
        leg,
        target: target.into(),
        status,
        outcome: outcome.into(),
    })
}

fn leg_ended(leg: LegId, cause: EndCause, side: Side) -> A {
    A::Fact(F::LegEnded { leg, cause, side })
}

fn ended(end: CallbackEnd) -> [A; 2] {
    let (cause, side) = end.fact();
    [A::Fact(F::Ended { cause, side }), A::Finished(end)]
}

// ------------------------------------------------------------ the happy path

#[test]
fn happy_path_rings_the_agent_tells_them_dials_tells_the_customer_then_bridges() {
    let mut run = Run::new();
    assert_eq!(
        run.call.poll_timeout(),
        Some(run.at(20)),
        "the agent rings 20 s"
    );
    assert_eq!(
        run.step(1, CallbackCall::agent_ringing),
        [A::Fact(F::LegRinging {
            leg: AGENT_LEG,
            target: EXT.into()
        })]
    );
    assert_eq!(
        run.step(2, CallbackCall::agent_answered),
        [
            A::PlayToAgent {
                prompts: vec![PROMPT_TO_AGENT]
            },
            A::Fact(F::LegAnswered {
                leg: AGENT_LEG,
                target: EXT.into()
            }),
        ]
    );
    assert_eq!(
        run.call.poll_timeout(),
        None,
        "the agent's ring time-out is over"
    );
    assert_eq!(
        run.step(8, CallbackCall::agent_prompt_done),
        [
            A::DialCustomer {
                number: NUMBER.into()
            },
            A::Report(CallbackReport::Placing),
        ]
    );
    assert_eq!(
        run.call.poll_timeout(),
        Some(run.at(48)),
        "the customer rings 40 s"
    );
    assert_eq!(
        run.step(10, CallbackCall::customer_ringing),
        [A::Fact(F::LegRinging {
            leg: CUSTOMER_LEG,
            target: NUMBER.into()
        })]
    );
    assert_eq!(
        run.step(15, CallbackCall::customer_answered),
        [
            A::PlayToCustomer {
                prompts: vec![PROMPT_TO_CUSTOMER]
            },
            A::Fact(F::LegAnswered {
                leg: CUSTOMER_LEG,
                target: NUMBER.into()
            }),
            attempt(Some(200), true),
        ]
    );
    assert_eq!(run.call.poll_timeout(), None);
    assert_eq!(
        run.step(21, CallbackCall::customer_prompt_done),
        [
            A::Bridge,
            A::Fact(F::Bridged {
                a: CUSTOMER_LEG,
                b: AGENT_LEG
            })
        ]
    );
    let mut want = vec![
        A::HangUpAgent,
        A::Fact(F::Unbridged {
            a: CUSTOMER_LEG,
            b: AGENT_LEG,
        }),
        leg_ended(CUSTOMER_LEG, EndCause::CallerHungUp, Side::Caller),
        leg_ended(AGENT_LEG, EndCause::CallerHungUp, Side::Caller),
    ];
    want.extend(ended(CallbackEnd::CustomerHungUp));
    assert_eq!(run.step(300, CallbackCall::customer_hung_up), want);
    run.assert_finished(CallbackEnd::CustomerHungUp);
    assert_eq!(
        run.reports(),
        [
            CallbackReport::Placing,
            CallbackReport::Attempt(AttemptOutcome {
                status: Some(200),
                answered: true
            })
        ]
    );
}

#[test]
fn bridged_agent_hanging_up_hangs_up_the_customer() {
    let mut run = Run::bridged();
    let mut want = vec![
        A::HangUpCustomer,
        A::Fact(F::Unbridged {
            a: CUSTOMER_LEG,
            b: AGENT_LEG,
        }),
        leg_ended(CUSTOMER_LEG, EndCause::OperatorHungUp, Side::Operator),
        leg_ended(AGENT_LEG, EndCause::OperatorHungUp, Side::Operator),
    ];
    want.extend(ended(CallbackEnd::AgentHungUp));
    assert_eq!(run.step(200, CallbackCall::agent_hung_up), want);
    run.assert_finished(CallbackEnd::AgentHungUp);
    // The other side's BYE crossing ours changes nothing.
    assert!(run.step(201, CallbackCall::customer_hung_up).is_empty());
}

#[test]
fn repeated_provisional_responses_publish_ringing_once() {
    let mut run = Run::new();
    assert_eq!(run.step(1, CallbackCall::agent_ringing).len(), 1);
    assert!(run.step(2, CallbackCall::agent_ringing).is_empty());
    run.step(3, CallbackCall::agent_answered);
    run.step(4, CallbackCall::agent_prompt_done);
    assert_eq!(run.step(5, CallbackCall::customer_ringing).len(), 1);
    assert!(run.step(6, CallbackCall::customer_ringing).is_empty());
}

// ------------------------------------------------------------ the agent's leg

#[test]
fn agent_not_answering_in_time_is_cancelled_and_missed() {
    let mut run = Run::new();
    run.step(1, CallbackCall::agent_ringing);
    let early = run.at(20) - Duration::from_millis(1);
    run.call.handle_timeout(early);
    assert!(run.drain().is_empty(), "an early time-out does nothing");
    let mut want = vec![
        A::CancelAgent,
        failed(AGENT_LEG, None, "no_answer"),
        A::Report(CallbackReport::AgentMissed),
    ];
    want.extend(ended(CallbackEnd::AgentMissed));
    assert_eq!(run.step(20, CallbackCall::handle_timeout), want);
    assert_eq!(
        CallbackEnd::AgentMissed.fact(),
        (EndCause::Rejected, Side::Operator)
    );
    run.assert_finished(CallbackEnd::AgentMissed);
    // Our CANCEL's 487, a repeated time-out, an answer crossing the CANCEL: all over.
    assert!(run
        .step(20, |c, now| c.agent_failed(now, Outcome::Cancelled))
        .is_empty());
    assert!(run.step(21, CallbackCall::handle_timeout).is_empty());
    assert!(run.step(21, CallbackCall::agent_answered).is_empty());
    assert_eq!(run.reports(), [CallbackReport::AgentMissed]);
}

#[test]
fn agent_busy_is_missed_and_needs_no_cancel() {
    let mut run = Run::new();
    let mut want = vec![
        failed(AGENT_LEG, Some(486), "busy"),
        A::Report(CallbackReport::AgentMissed),
    ];
    want.extend(ended(CallbackEnd::AgentMissed));
    assert_eq!(
        run.step(3, |c, now| c.agent_failed(now, Outcome::Busy)),
        want
    );
    run.assert_finished(CallbackEnd::AgentMissed);
    assert_eq!(run.reports(), [CallbackReport::AgentMissed]);
}

#[test]
fn agent_declined_unreachable_or_refusing_is_missed_with_its_status() {
    for (outcome, status, label) in [
        (Outcome::Declined, Some(603), "declined"),
        (Outcome::Unavailable, Some(503), "unavailable"),
        (Outcome::NoAnswer, None, "no_answer"),
        (Outcome::Rejected { status: 404 }, Some(404), "rejected"),
    ] {
        let mut run = Run::new();
        let out = run.step(3, |c, now| c.agent_failed(now, outcome));
        assert_eq!(out[0], failed(AGENT_LEG, status, label));
        assert!(!out.contains(&A::CancelAgent), "{out:?}");
        run.assert_finished(CallbackEnd::AgentMissed);
        assert_eq!(run.reports(), [CallbackReport::AgentMissed], "{label}");
    }
}

#[test]
fn the_customer_is_dialled_only_after_the_agents_prompt_finished() {
    let mut run = Run::new();
    let out = run.step(2, CallbackCall::agent_answered);
    assert!(!out.iter().any(|a| matches!(a, A::DialCustomer { .. })));
    // Early inputs for the customer's leg (none is placed) are ignored.
    assert!(run.step(3, CallbackCall::customer_answered).is_empty());
    assert!(run.step(3, CallbackCall::customer_prompt_done).is_empty());
    assert!(run
        .step(3, |c, now| c.customer_failed(now, Some(486)))
        .is_empty());
    // The agent's ring time-out no longer applies while they listen.
    assert!(run.step(60, CallbackCall::handle_timeout).is_empty());
    let out = run.step(61, CallbackCall::agent_prompt_done);
    assert_eq!(
        out[0],
        A::DialCustomer {
            number: NUMBER.into()
        }
    );
    assert_eq!(run.call.poll_timeout(), Some(run.at(101)));
}

#[test]
fn agent_hanging_up_during_their_prompt_is_agent_left_and_nobody_is_dialled() {
    let mut run = Run::new();
    run.step(2, CallbackCall::agent_answered);
    let mut want = vec![
        leg_ended(AGENT_LEG, EndCause::OperatorHungUp, Side::Operator),
        A::Report(CallbackReport::AgentLeft),
    ];
    want.extend(ended(CallbackEnd::AgentLeft));
    assert_eq!(run.step(4, CallbackCall::agent_hung_up), want);
    run.assert_finished(CallbackEnd::AgentLeft);
    assert!(run.step(5, CallbackCall::agent_prompt_done).is_empty());
    assert!(!run.all.iter().any(|a| matches!(a, A::DialCustomer { .. })));
}

#[test]
fn agent_hanging_up_while_the_customer_rings_cancels_the_customer_and_is_agent_left() {
    let mut run = Run::customer_ringing();
    run.step(10, CallbackCall::customer_ringing);
    let mut want = vec![
        A::CancelCustomer,
        leg_ended(AGENT_LEG, EndCause::OperatorHungUp, Side::Operator),
        A::Report(CallbackReport::AgentLeft),
    ];
    want.extend(ended(CallbackEnd::AgentLeft));
    assert_eq!(run.step(12, CallbackCall::agent_hung_up), want);
    run.assert_finished(CallbackEnd::AgentLeft);
    // The customer's answer crossing our CANCEL is the UAC core's to hang up.
    assert!(run.step(13, CallbackCall::customer_answered).is_empty());
    assert!(run
        .step(13, |c, now| c.customer_failed(now, Some(487)))
        .is_empty());
    assert_eq!(
        run.reports(),
        [CallbackReport::Placing, CallbackReport::AgentLeft],
        "not counted against the customer"
    );
}

// ------------------------------------------------------------ the customer's leg

#[test]
fn customer_busy_tells_the_agent_then_hangs_up_with_a_failed_attempt() {
    let mut run = Run::customer_ringing();
    assert_eq!(
        run.step(12, |c, now| c.customer_failed(now, Some(486))),
        [
            A::PlayToAgent {
                prompts: vec![PROMPT_NOT_REACHED]
            },
            failed(CUSTOMER_LEG, Some(486), "busy"),
            attempt(Some(486), false),
        ]
    );
    assert_eq!(run.call.poll_timeout(), None);
    let mut want = vec![
        A::HangUpAgent,
        leg_ended(AGENT_LEG, EndCause::Rejected, Side::Caller),
    ];
    want.extend(ended(CallbackEnd::CustomerNotReached));
    assert_eq!(run.step(15, CallbackCall::agent_prompt_done), want);
    run.assert_finished(CallbackEnd::CustomerNotReached);
    assert_eq!(
        run.reports(),
        [
            CallbackReport::Placing,
            CallbackReport::Attempt(AttemptOutcome {
                status: Some(486),
                answered: false
            })
        ]
    );
}

#[test]
fn customer_not_answering_in_time_is_cancelled_and_an_attempt_without_status() {
    let mut run = Run::customer_ringing();
    run.step(10, CallbackCall::customer_ringing);
    assert_eq!(run.call.poll_timeout(), Some(run.at(48)));
    assert!(run.step(47, CallbackCall::handle_timeout).is_empty());
    assert_eq!(
        run.step(48, CallbackCall::handle_timeout),
        [
            A::CancelCustomer,
            A::PlayToAgent {
                prompts: vec![PROMPT_NOT_REACHED]
            },
            failed(CUSTOMER_LEG, None, "no_answer"),
            attempt(None, false),
        ]
    );
    // Our CANCEL's 487 (or a 486 crossing it) reports nothing more.
    assert!(run
        .step(48, |c, now| c.customer_failed(now, Some(487)))
        .is_empty());
    assert!(run.step(49, CallbackCall::handle_timeout).is_empty());
    run.step(52, CallbackCall::agent_prompt_done);
    run.assert_finished(CallbackEnd::CustomerNotReached);
}

#[test]
fn other_customer_failures_are_attempts_with_their_status() {
    for (status, label) in [
        (Some(603), "declined"),
        (Some(480), "no_answer"),
        (Some(404), "rejected"),
        (Some(503), "unavailable"),
        (None, "no_answer"), // Timer B: no response at all
    ] {
        let mut run = Run::customer_ringing();
        let out = run.step(12, |c, now| c.customer_failed(now, status));
        assert_eq!(out[1], failed(CUSTOMER_LEG, status, label));
        assert_eq!(out[2], attempt(status, false));
        run.step(14, CallbackCall::agent_prompt_done);
        run.assert_finished(CallbackEnd::CustomerNotReached);
    }
}

#[test]
fn agent_hanging_up_during_not_reached_ends_without_a_second_report() {
    let mut run = Run::not_reached();
    let mut want = vec![leg_ended(
        AGENT_LEG,
        EndCause::OperatorHungUp,
        Side::Operator,
    )];
    want.extend(ended(CallbackEnd::AgentHungUp));
    assert_eq!(run.step(13, CallbackCall::agent_hung_up), want);
    run.assert_finished(CallbackEnd::AgentHungUp);
    assert_eq!(reports(&run.all).len(), 2, "Placing and the attempt only");
}

#[test]
fn the_bridge_waits_for_the_customers_prompt_and_the_agent_hears_nothing_new() {
    let mut run = Run::customer_ringing();
    let out = run.step(15, CallbackCall::customer_answered);
    assert!(!out.contains(&A::Bridge));
    assert!(!out.iter().any(|a| matches!(a, A::PlayToAgent { .. })));
    // A stale prompt end from the agent's leg is not the customer's.
    assert!(run.step(16, CallbackCall::agent_prompt_done).is_empty());
    assert!(run.step(100, CallbackCall::handle_timeout).is_empty());
    assert_eq!(
        run.step(21, CallbackCall::customer_prompt_done)[0],
        A::Bridge
    );
    assert!(run.step(22, CallbackCall::customer_prompt_done).is_empty());
}

/// A customer who answered was reached: the attempt is reported as answered when they
/// answer, so hanging up during the reason still completes the callback (they can call
/// again; calling them back a second time for one need is what §1.7 forbids).
#[test]
fn customer_hanging_up_during_the_intro_counts_as_reached() {
    let mut run = Run::customer_intro();
    let mut want = vec![
        A::HangUpAgent,
        leg_ended(CUSTOMER_LEG, EndCause::CallerHungUp, Side::Caller),
        leg_ended(AGENT_LEG, EndCause::CallerHungUp, Side::Caller),
    ];
    want.extend(ended(CallbackEnd::CustomerHungUp));
    assert_eq!(run.step(17, CallbackCall::customer_hung_up), want);
    run.assert_finished(CallbackEnd::CustomerHungUp);
    assert!(run.step(21, CallbackCall::customer_prompt_done).is_empty());
    assert!(!run.all.contains(&A::Bridge));
    assert_eq!(
        run.reports()[1],
        CallbackReport::Attempt(AttemptOutcome {
            status: Some(200),
            answered: true
        })
    );
}

#[test]
fn agent_hanging_up_during_the_customers_intro_hangs_up_the_customer() {
    let mut run = Run::customer_intro();
    let mut want = vec![
        A::HangUpCustomer,
        leg_ended(CUSTOMER_LEG, EndCause::OperatorHungUp, Side::Operator),
        leg_ended(AGENT_LEG, EndCause::OperatorHungUp, Side::Operator),
    ];
    want.extend(ended(CallbackEnd::AgentHungUp));
    assert_eq!(run.step(17, CallbackCall::agent_hung_up), want);
    run.assert_finished(CallbackEnd::AgentHungUp);
    assert!(
        !run.reports().contains(&CallbackReport::AgentLeft),
        "the customer was reached"
    );
}

// ------------------------------------------------------------ shutting down

#[test]
fn shut_down_ends_every_state_with_the_right_commands_and_report() {
    /// A state's name, how to reach it, the commands shut-down gives, the whole call's reports.
    type Case = (
        &'static str,
        fn() -> Run,
        &'static [A],
        &'static [CallbackReport],
    );
    let cases: [Case; 6] = [
        (
            "agent rings",
            Run::new,
            &[A::CancelAgent],
            &[CallbackReport::AgentMissed],
        ),
        (
            "agent hears the intro",
            || {
                let mut run = Run::new();
                run.step(2, CallbackCall::agent_answered);
                run
            },
            &[A::HangUpAgent],
            &[CallbackReport::AgentLeft],
        ),
        (
            "customer rings",
            Run::customer_ringing,
            &[A::CancelCustomer, A::HangUpAgent],
            &[CallbackReport::Placing, CallbackReport::AgentLeft],
        ),
        (
            "customer hears the reason",
            Run::customer_intro,
            &[A::HangUpCustomer, A::HangUpAgent],
            &[
                CallbackReport::Placing,
                CallbackReport::Attempt(AttemptOutcome {
                    status: Some(200),
                    answered: true,
                }),
            ],
        ),
        (
            "bridged",
            Run::bridged,
            &[A::HangUpCustomer, A::HangUpAgent],
            &[
                CallbackReport::Placing,
                CallbackReport::Attempt(AttemptOutcome {
                    status: Some(200),
                    answered: true,
                }),
            ],
        ),
        (
            "agent hears not reached",
            Run::not_reached,
            &[A::HangUpAgent],
            &[
                CallbackReport::Placing,
                CallbackReport::Attempt(AttemptOutcome {
                    status: Some(486),
                    answered: false,
                }),
            ],
        ),
    ];
    for (name, start, commands, want_reports) in cases {
        let mut run = start();
        let out = run.step(30, CallbackCall::shut_down);
        let got: Vec<A> = out
            .iter()
            .filter(|a| !matches!(a, A::Fact(_) | A::Report(_) | A::Finished(_)))
            .cloned()
            .collect();
        assert_eq!(got, commands, "{name}");
        assert_eq!(run.reports(), want_reports, "{name}");
        assert_eq!(
            out[out.len() - 2],
            A::Fact(F::Ended {
                cause: EndCause::Shutdown,
                side: Side::System
            }),
            "{name}"
        );
        run.assert_finished(CallbackEnd::Shutdown);
        assert!(run.step(31, CallbackCall::shut_down).is_empty(), "{name}");
        assert!(
            run.step(31, CallbackCall::agent_hung_up).is_empty(),
            "{name}"
        );
        assert!(
            run.step(90, CallbackCall::handle_timeout).is_empty(),
            "{name}"
        );
    }
}

// ------------------------------------------------------------ random sequences

#[derive(Clone, Debug)]
enum Ev {
    Wait(u64),
    Timeout,
    AgentRinging,
    AgentAnswered,
    AgentFailed(Outcome),
    AgentPromptDone,
    AgentHungUp,
    CustomerRinging,
    CustomerAnswered,
    CustomerFailed(Option<u16>),
    CustomerPromptDone,
    CustomerHungUp,
    ShutDown,
}

fn ev() -> impl proptest::strategy::Strategy<Value = Ev> {
    use proptest::prelude::*;
    prop_oneof![
        (0u64..50).prop_map(Ev::Wait),
        Just(Ev::Timeout),
        Just(Ev::AgentRinging),
        Just(Ev::AgentAnswered),
        prop_oneof![
            Just(Outcome::Busy),
            Just(Outcome::Declined),
            Just(Outcome::NoAnswer),
            Just(Outcome::Cancelled),
            Just(Outcome::Unavailable),
        ]
        .prop_map(Ev::AgentFailed),
        Just(Ev::AgentPromptDone),
        Just(Ev::AgentHungUp),
        Just(Ev::CustomerRinging),
        Just(Ev::CustomerAnswered),
        proptest::option::of(prop_oneof![Just(486u16), Just(487), Just(603), Just(404)])
            .prop_map(Ev::CustomerFailed),
        Just(Ev::CustomerPromptDone),
        Just(Ev::CustomerHungUp),
        Just(Ev::ShutDown),
    ]
}

/// Apply `evs` (then a shut-down), checking each step's actions against what came before.
fn check_sequence(evs: &[Ev]) -> Result<(), String> {
    let mut run = Run::new();
    let mut now = 0;
    // What earlier steps emitted: the answers and the prompts played.
    let (mut agent_up, mut customer_up) = (false, false);
    let (mut agent_told, mut customer_told) = (false, false);
    for ev in evs.iter().chain([&Ev::ShutDown]) {
        let out = match ev.clone() {
            Ev::Wait(s) => {
                now += s;
                continue;
            }
            Ev::Timeout => run.step(now, CallbackCall::handle_timeout),
            Ev::AgentRinging => run.step(now, CallbackCall::agent_ringing),
            Ev::AgentAnswered => run.step(now, CallbackCall::agent_answered),
            Ev::AgentFailed(o) => run.step(now, |c, t| c.agent_failed(t, o)),
            Ev::AgentPromptDone => run.step(now, CallbackCall::agent_prompt_done),
            Ev::AgentHungUp => run.step(now, CallbackCall::agent_hung_up),
            Ev::CustomerRinging => run.step(now, CallbackCall::customer_ringing),
            Ev::CustomerAnswered => run.step(now, CallbackCall::customer_answered),
            Ev::CustomerFailed(s) => run.step(now, |c, t| c.customer_failed(t, s)),
            Ev::CustomerPromptDone => run.step(now, CallbackCall::customer_prompt_done),
            Ev::CustomerHungUp => run.step(now, CallbackCall::customer_hung_up),
            Ev::ShutDown => run.step(now, CallbackCall::shut_down),
        };
        for a in &out {
            match a {
                A::Fact(F::LegAnswered { leg, .. }) if *leg == AGENT_LEG => agent_up = true,
                A::Fact(F::LegAnswered { .. }) => customer_up = true,
                A::DialCustomer { .. }
                    if !(agent_up && agent_told && matches!(ev, Ev::AgentPromptDone)) =>
                {
                    return Err(format!("DialCustomer before the agent's prompt: {ev:?}"));
                }
                A::Bridge
                    if !(agent_up
                        && customer_up
                        && customer_told
                        && matches!(ev, Ev::CustomerPromptDone)) =>
                {
                    return Err(format!("Bridge too early: {:?}", run.all));
                }
                _ => {}
            }
        }
        agent_told |= out.iter().any(|a| {
            *a == A::PlayToAgent {
                prompts: vec![PROMPT_TO_AGENT],
            }
        });
        customer_told |= out.iter().any(|a| matches!(a, A::PlayToCustomer { .. }));
        check_life(&run.all)?;
    }
    if !run.call.is_finished() {
        return Err("a shut-down did not finish the call".into());
    }
    let count = |f: fn(&A) -> bool| run.all.iter().filter(|a| f(a)).count();
    if count(|a| matches!(a, A::DialCustomer { .. })) > 1 || count(|a| *a == A::Bridge) > 1 {
        return Err(format!("dialled or bridged twice: {:?}", run.all));
    }
    Ok(())
}

proptest::proptest! {
    /// Whatever the legs and the media report, in whatever order and time: at most one of
    /// AgentMissed/AgentLeft/Attempt (exactly one at the end), Placing before Attempt, no
    /// dial before the agent answered and heard their prompt, no bridge before both
    /// answered and the customer heard the reason, and Finished last.
    #[test]
    fn random_event_sequences_keep_the_report_and_order_rules(
        evs in proptest::collection::vec(ev(), 0..40)
    ) {
        if let Err(e) = check_sequence(&evs) {
            proptest::prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn the_property_check_catches_the_happy_path_as_valid() {
    use Ev::*;
    check_sequence(&[
        AgentRinging,
        AgentAnswered,
        AgentPromptDone,
        CustomerRinging,
        CustomerAnswered,
        CustomerPromptDone,
        Wait(100),
        CustomerHungUp,
    ])
    .unwrap();
}
