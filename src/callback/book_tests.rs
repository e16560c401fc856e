//! The callback book in explicit Astana time over the bundled 2026 calendar: 1 December 2026
//! is a Tuesday, 4 December a Friday, 16 December (Independence Day) a Wednesday holiday.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::calendar::testing::{cal, local, t};
use CallbackAction::{Enqueue, Fact, Persist, Withdraw};

const SALES: &str = "sales";
const NUMBER: &str = "+77011234567";

fn book() -> CallbackBook {
    CallbackBook::new(CallbackRules::default(), Some(cal()))
}

fn req(when: When) -> Request {
    Request {
        queue: SALES.into(),
        number: NUMBER.into(),
        entered_at: t("2026-12-01T09:55"),
        priority: 2,
        when,
    }
}

fn drain(b: &mut CallbackBook) -> Vec<CallbackAction> {
    std::iter::from_fn(|| b.poll_action()).collect()
}

fn facts(acts: &[CallbackAction]) -> Vec<CallbackFact> {
    acts.iter()
        .filter_map(|a| match a {
            Fact(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn enqueue(id: i64) -> CallbackAction {
    Enqueue {
        id: CallbackId(id),
        queue: SALES.into(),
        since: t("2026-12-01T09:55"),
        priority: 2,
    }
}

fn persist(id: i64, state: State, attempts: u32, due: Option<&str>) -> CallbackAction {
    Persist {
        id: CallbackId(id),
        state,
        attempts,
        due: due.map(t),
    }
}

/// Admit an ASAP request at `now` under `id` and drain.
fn admit_asap(b: &mut CallbackBook, now: &str, id: i64) -> Vec<CallbackAction> {
    b.admit(t(now), CallbackId(id), req(When::Asap)).unwrap();
    drain(b)
}

fn failed(status: u16) -> AttemptOutcome {
    AttemptOutcome {
        status: Some(status),
        answered: false,
    }
}

const ANSWERED: AttemptOutcome = AttemptOutcome {
    status: Some(200),
    answered: true,
};

#[test]
fn asap_within_hours_is_queued_at_once_with_the_original_since() {
    let mut b = book();
    let now = "2026-12-01T10:00";
    assert_eq!(
        b.check(t(now), &req(When::Asap), false),
        Ok(Accepted {
            due: t(now),
            out_of_hours: false
        })
    );
    assert_eq!(
        admit_asap(&mut b, now, 7),
        [
            persist(7, State::Scheduled, 0, Some(now)),
            Fact(CallbackFact::Requested {
                id: CallbackId(7),
                queue: SALES.into(),
                due: t(now),
                out_of_hours: false
            }),
            persist(7, State::Queued, 0, Some(now)),
            enqueue(7),
            Fact(CallbackFact::Queued { id: CallbackId(7) }),
        ]
    );
    // The only timer left is the end of today's hours.
    assert_eq!(b.poll_timeout(), Some(t("2026-12-01T18:30")));
    assert_eq!(b.state(CallbackId(7)), Some(State::Queued));
}

#[test]
fn asap_on_friday_evening_is_due_monday_morning() {
    let mut b = book();
    let now = t("2026-12-04T19:00");
    let ok = b.check(now, &req(When::Asap), false).unwrap();
    assert_eq!(local(ok.due), "2026-12-07T09:00:00");
    assert!(ok.out_of_hours);
    let acts = admit_asap(&mut b, "2026-12-04T19:00", 1);
    assert!(
        !acts.iter().any(|a| matches!(a, Enqueue { .. })),
        "{acts:?}"
    );
    assert_eq!(b.poll_timeout(), Some(t("2026-12-07T09:00")));
    b.handle_timeout(t("2026-12-05T12:00")); // early: nothing
    assert!(drain(&mut b).is_empty());
    b.handle_timeout(t("2026-12-07T09:00"));
    assert_eq!(
        drain(&mut b),
        [
            persist(1, State::Queued, 0, Some("2026-12-07T09:00")),
            enqueue(1),
            Fact(CallbackFact::Queued { id: CallbackId(1) }),
        ]
    );
}

#[test]
fn a_holiday_moves_the_due_time() {
    let b = book();
    // Tuesday evening before Independence Day (Wednesday 16 December): Thursday morning.
    let ok = b
        .check(t("2026-12-15T19:00"), &req(When::Asap), false)
        .unwrap();
    assert_eq!(local(ok.due), "2026-12-17T09:00:00");
    assert!(ok.out_of_hours);
}

#[test]
fn a_chosen_time_outside_hours_is_refused() {
    let b = book();
    let now = t("2026-12-01T10:00");
    for at in [
        "2026-12-01T20:00", // evening
        "2026-12-01T18:30", // the close itself
        "2026-12-05T12:00", // Saturday
        "2026-12-16T11:00", // Independence Day
    ] {
        assert_eq!(
            b.check(now, &req(When::At(t(at))), false),
            Err(Refused::OutsidePermittedHours),
            "{at}"
        );
    }
    assert_eq!(
        b.check(now, &req(When::At(t("2026-12-01T09:30"))), false),
        Err(Refused::InPast)
    );
}

#[test]
fn a_chosen_time_within_hours_is_queued_then() {
    let mut b = book();
    let at = t("2026-12-02T11:00");
    let ok = b
        .admit(t("2026-12-01T10:00"), CallbackId(1), req(When::At(at)))
        .unwrap();
    assert_eq!(
        ok,
        Accepted {
            due: at,
            out_of_hours: false
        }
    );
    drain(&mut b);
    assert_eq!(b.poll_timeout(), Some(at));
    b.handle_timeout(at);
    assert!(drain(&mut b).contains(&enqueue(1)));
}

#[test]
fn duplicates_are_refused_while_pending_and_accepted_after_completion() {
    let mut b = book();
    let now = t("2026-12-01T10:00");
    admit_asap(&mut b, "2026-12-01T10:00", 1);
    let dup = Refused::Duplicate {
        existing: CallbackId(1),
    };
    assert_eq!(b.check(now, &req(When::Asap), false), Err(dup.clone()));
    // Admitting it anyway (a request admitted between check and admit) is refused too.
    assert_eq!(
        b.admit(now, CallbackId(2), req(When::Asap)),
        Err(CallbackError::Refused(dup.clone()))
    );
    // Another queue is another need.
    let other = Request {
        queue: "support".into(),
        ..req(When::Asap)
    };
    assert!(b.check(now, &other, false).is_ok());

    b.reserved(now, CallbackId(1)).unwrap();
    assert_eq!(b.check(now, &req(When::Asap), false), Err(dup)); // still pending while placing
    b.attempt_result(now, CallbackId(1), ANSWERED).unwrap();
    assert_eq!(b.state(CallbackId(1)), Some(State::Completed));
    assert!(b.check(now, &req(When::Asap), false).is_ok());
}

#[test]
fn do_not_contact_is_refused() {
    let b = book();
    assert_eq!(
        b.check(t("2026-12-01T10:00"), &req(When::Asap), true),
        Err(Refused::DoNotContact)
    );
}

#[test]
fn three_failed_attempts_fail_the_callback_with_each_status() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T10:00", 1);
    let mut all = vec![];
    let mut now = t("2026-12-01T10:00");
    for status in [486, 480, 603] {
        b.reserved(now, id).unwrap();
        b.attempt_result(now, id, failed(status)).unwrap();
        all.extend(drain(&mut b));
        if let Some(next) = b.poll_timeout() {
            now = next;
            b.handle_timeout(now);
            all.extend(drain(&mut b));
        }
    }
    assert_eq!(
        facts(&all),
        [
            CallbackFact::Placing { id, attempt: 1 },
            CallbackFact::AttemptFailed {
                id,
                attempt: 1,
                status: Some(486)
            },
            CallbackFact::Queued { id },
            CallbackFact::Placing { id, attempt: 2 },
            CallbackFact::AttemptFailed {
                id,
                attempt: 2,
                status: Some(480)
            },
            CallbackFact::Queued { id },
            CallbackFact::Placing { id, attempt: 3 },
            CallbackFact::AttemptFailed {
                id,
                attempt: 3,
                status: Some(603)
            },
            CallbackFact::Failed { id, attempts: 3 },
        ]
    );
    // Each retry came retry_delay later, in its original place.
    let requeued: Vec<&CallbackAction> = all
        .iter()
        .filter(|a| {
            matches!(
                a,
                Persist {
                    state: State::Scheduled,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(
        requeued,
        [
            &persist(1, State::Scheduled, 1, Some("2026-12-01T10:10")),
            &persist(1, State::Scheduled, 2, Some("2026-12-01T10:20")),
        ]
    );
    assert_eq!(all.iter().filter(|a| **a == enqueue(1)).count(), 2);
    assert_eq!(
        all.last(),
        Some(&Fact(CallbackFact::Failed { id, attempts: 3 }))
    );
    assert!(all.contains(&persist(1, State::Failed, 3, None)));
    assert_eq!(b.state(id), Some(State::Failed));
    assert!(b.get(id).is_none());
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn a_retry_due_after_1830_moves_to_the_next_morning() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T18:00", 1);
    b.reserved(t("2026-12-01T18:20"), id).unwrap();
    b.attempt_result(t("2026-12-01T18:25"), id, failed(486))
        .unwrap();
    let acts = drain(&mut b);
    assert!(acts.contains(&persist(1, State::Scheduled, 1, Some("2026-12-02T09:00"))));
    assert_eq!(b.poll_timeout(), Some(t("2026-12-02T09:00")));
    b.handle_timeout(t("2026-12-02T09:00"));
    assert!(drain(&mut b).contains(&enqueue(1)));
}

#[test]
fn a_missed_agent_requeues_without_counting_an_attempt() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T10:00", 1);
    b.reserved(t("2026-12-01T10:01"), id).unwrap();
    drain(&mut b);
    b.agent_missed(t("2026-12-01T10:02"), id).unwrap();
    assert_eq!(
        drain(&mut b),
        [
            persist(1, State::Queued, 0, Some("2026-12-01T10:00")),
            enqueue(1),
            Fact(CallbackFact::Queued { id }),
        ]
    );
    b.reserved(t("2026-12-01T10:03"), id).unwrap();
    assert_eq!(
        facts(&drain(&mut b)),
        [CallbackFact::Placing { id, attempt: 1 }]
    );
    assert_eq!(b.get(id).unwrap().attempts(), 0);
}

#[test]
fn served_closes_pending_callbacks_without_placing_them() {
    let mut b = book();
    admit_asap(&mut b, "2026-12-01T10:00", 1); // queued now
    let support = Request {
        queue: "support".into(),
        ..req(When::Asap)
    };
    b.admit(t("2026-12-01T10:00"), CallbackId(2), support)
        .unwrap();
    drain(&mut b);

    b.served(t("2026-12-01T10:05"), NUMBER, SALES);
    let id = CallbackId(1);
    let reason = CloseReason::Served;
    assert_eq!(
        drain(&mut b),
        [
            Withdraw { id },
            persist(1, State::Closed(reason), 0, None),
            Fact(CallbackFact::Closed { id, reason }),
        ]
    );
    assert_eq!(
        b.reserved(t("2026-12-01T10:06"), id),
        Err(CallbackError::AlreadyEnded {
            id,
            state: State::Closed(reason)
        })
    );
    // The other queue's callback is another need and stays.
    assert_eq!(b.state(CallbackId(2)), Some(State::Queued));

    // A scheduled one is closed too, and its timer goes with it.
    let mut b = book();
    admit_asap(&mut b, "2026-12-04T19:00", 3);
    b.served(t("2026-12-04T19:05"), NUMBER, SALES);
    assert_eq!(
        facts(&drain(&mut b)),
        [CallbackFact::Closed {
            id: CallbackId(3),
            reason
        }]
    );
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn cancel_closes_and_withdraws() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T10:00", 1);
    assert_eq!(
        b.cancel(t("2026-12-01T10:01"), CallbackId(9)),
        Err(CallbackError::NotFound(CallbackId(9)))
    );
    b.cancel(t("2026-12-01T10:01"), id).unwrap();
    let reason = CloseReason::Cancelled;
    assert_eq!(
        drain(&mut b),
        [
            Withdraw { id },
            persist(1, State::Closed(reason), 0, None),
            Fact(CallbackFact::Closed { id, reason }),
        ]
    );
    assert_eq!(
        b.cancel(t("2026-12-01T10:02"), id),
        Err(CallbackError::AlreadyEnded {
            id,
            state: State::Closed(reason)
        })
    );
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn end_of_hours_withdraws_then_enqueues_next_morning() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T18:00", 1);
    assert_eq!(b.poll_timeout(), Some(t("2026-12-01T18:30")));
    b.handle_timeout(t("2026-12-01T18:30"));
    assert_eq!(
        drain(&mut b),
        [
            Withdraw { id },
            persist(1, State::Scheduled, 0, Some("2026-12-02T09:00")),
            Fact(CallbackFact::Withdrawn {
                id,
                due: t("2026-12-02T09:00")
            }),
        ]
    );
    assert_eq!(b.poll_timeout(), Some(t("2026-12-02T09:00")));
    b.handle_timeout(t("2026-12-02T09:00"));
    assert_eq!(
        drain(&mut b),
        [
            persist(1, State::Queued, 0, Some("2026-12-02T09:00")),
            enqueue(1), // the same since: 1 December 09:55
            Fact(CallbackFact::Queued { id }),
        ]
    );
}

#[test]
fn a_reservation_after_hours_ended_is_refused() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T18:00", 1);
    // The driver reports the reservation before running the 18:30 timer: the book withdraws
    // first, and the driver releases the agent.
    assert_eq!(
        b.reserved(t("2026-12-01T18:30:01"), id),
        Err(CallbackError::WrongState {
            id,
            state: State::Scheduled
        })
    );
    assert_eq!(drain(&mut b)[0], Withdraw { id });
}

#[test]
fn hours_ending_while_placing_do_not_withdraw() {
    let mut b = book();
    let id = CallbackId(1);
    admit_asap(&mut b, "2026-12-01T18:29", 1);
    b.reserved(t("2026-12-01T18:29:30"), id).unwrap();
    drain(&mut b);
    assert_eq!(b.poll_timeout(), None);
    b.handle_timeout(t("2026-12-01T18:31"));
    assert!(drain(&mut b).is_empty());
    // The agent missed after the close: due next morning, not queued now.
    b.agent_missed(t("2026-12-01T18:31"), id).unwrap();
    assert_eq!(
        drain(&mut b),
        [persist(1, State::Scheduled, 0, Some("2026-12-02T09:00"))]
    );
}

#[test]
fn restore_after_restart_keeps_attempts_and_due_time() {
    let mut b = book();
    let id = CallbackId(5);
    b.restore(
        id,
        Record {
            request: req(When::Asap),
            attempts: 2,
            due: t("2026-12-02T09:00"),
        },
    )
    .unwrap();
    assert!(drain(&mut b).is_empty());
    assert_eq!(b.get(id).unwrap().attempts(), 2);
    assert_eq!(b.poll_timeout(), Some(t("2026-12-02T09:00")));
    assert_eq!(
        b.check(t("2026-12-01T20:00"), &req(When::Asap), false),
        Err(Refused::Duplicate { existing: id })
    );
    b.handle_timeout(t("2026-12-02T09:00"));
    assert!(drain(&mut b).contains(&enqueue(5)));
    b.reserved(t("2026-12-02T09:01"), id).unwrap();
    assert_eq!(
        facts(&drain(&mut b)),
        [CallbackFact::Placing { id, attempt: 3 }]
    );
    b.attempt_result(t("2026-12-02T09:02"), id, failed(486))
        .unwrap();
    assert!(facts(&drain(&mut b)).contains(&CallbackFact::Failed { id, attempts: 3 }));
}

#[test]
fn a_restored_overdue_callback_is_queued_at_once() {
    let mut b = book();
    let record = Record {
        request: req(When::Asap),
        attempts: 0,
        due: t("2026-12-01T10:00"),
    };
    b.restore(CallbackId(1), record.clone()).unwrap();
    assert_eq!(
        b.restore(CallbackId(1), record),
        Err(CallbackError::IdInUse(CallbackId(1)))
    );
    let now = t("2026-12-01T11:00");
    assert!(b.poll_timeout().unwrap() <= now);
    b.handle_timeout(now);
    assert!(drain(&mut b).contains(&enqueue(1)));
}

#[test]
fn without_a_calendar_every_hour_is_permitted() {
    let mut b = CallbackBook::new(CallbackRules::default(), None);
    let sunday_night = t("2026-12-06T03:00");
    let ok = b
        .admit(sunday_night, CallbackId(1), req(When::Asap))
        .unwrap();
    assert!(!ok.out_of_hours);
    assert!(drain(&mut b).contains(&enqueue(1)));
    assert_eq!(b.poll_timeout(), None); // no end of hours to withdraw at
}

#[test]
fn a_year_without_a_calendar_holds_callbacks_back() {
    let mut b = book();
    let id = CallbackId(1);
    // Refused when the request itself needs the missing year.
    assert!(matches!(
        b.check(
            t("2027-12-31T18:00"),
            &req(When::At(t("2028-01-04T10:00"))),
            false
        ),
        Err(Refused::Calendar(_))
    ));
    // Queued on the last working day of the last year with a file: at the close the book
    // cannot tell when hours open again, so it withdraws and looks again an hour later.
    admit_asap(&mut b, "2027-12-31T18:00", 1);
    b.handle_timeout(t("2027-12-31T18:30"));
    let acts = drain(&mut b);
    assert_eq!(acts[0], Withdraw { id });
    assert!(
        matches!(
            acts.last(),
            Some(Fact(CallbackFact::NoCalendar { recheck, .. })) if *recheck == t("2027-12-31T19:30")
        ),
        "{acts:?}"
    );
    assert_eq!(b.poll_timeout(), Some(t("2027-12-31T19:30")));
}

#[test]
fn counts_by_queue_split_pending_and_placing() {
    let mut b = book();
    admit_asap(&mut b, "2026-12-01T10:00", 1);
    let other = |n: &str, q: &str| Request {
        queue: q.into(),
        number: n.into(),
        ..req(When::Asap)
    };
    b.admit(
        t("2026-12-01T10:00"),
        CallbackId(2),
        other("+77017654321", SALES),
    )
    .unwrap();
    b.admit(
        t("2026-12-01T10:00"),
        CallbackId(3),
        other(NUMBER, "support"),
    )
    .unwrap();
    b.reserved(t("2026-12-01T10:01"), CallbackId(2)).unwrap();
    let counts = b.counts_by_queue();
    assert_eq!(
        counts[SALES],
        Counts {
            pending: 1,
            placing: 1
        }
    );
    assert_eq!(
        counts["support"],
        Counts {
            pending: 1,
            placing: 0
        }
    );
    assert_eq!(b.pending().count(), 3);
}

#[derive(Clone, Debug)]
enum Op {
    Request(u8),
    Reserve(u8),
    Missed(u8),
    Result(u8, bool),
    Served(u8),
    Cancel(u8),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8).prop_map(Op::Request),
        (0..8u8).prop_map(Op::Reserve),
        (0..8u8).prop_map(Op::Missed),
        (0..8u8, any::<bool>()).prop_map(|(i, a)| Op::Result(i, a)),
        (0..4u8).prop_map(Op::Served),
        (0..8u8).prop_map(Op::Cancel),
        (1..1500u16).prop_map(Op::Wait),
    ]
}

proptest! {
    /// Whatever happens: nothing is queued outside working time, every `Enqueue` keeps the
    /// caller's place, a callback is never in the ACD twice, attempts never exceed the limit,
    /// and the book's states agree with what it told the driver to persist.
    #[test]
    fn callbacks_are_placed_only_in_permitted_hours(ops in proptest::collection::vec(op(), 1..60)) {
        let c = cal();
        let mut b = book();
        let mut now = t("2026-12-04T08:00");
        let mut next_id = 0i64;
        let mut in_acd: BTreeSet<CallbackId> = BTreeSet::new();
        let mut stored: HashMap<CallbackId, State> = HashMap::new();
        let number = |n: u8| format!("+7701000000{n}");
        for op in ops {
            match op {
                Op::Request(n) => {
                    let r = Request { number: number(n), ..req(When::Asap) };
                    if b.check(now, &r, false).is_ok() {
                        b.admit(now, CallbackId(next_id), r).unwrap();
                        next_id += 1;
                    }
                }
                Op::Reserve(i) => { let _ = b.reserved(now, CallbackId(i64::from(i))); }
                Op::Missed(i) => { let _ = b.agent_missed(now, CallbackId(i64::from(i))); }
                Op::Result(i, answered) => {
                    let outcome = AttemptOutcome { status: Some(486), answered };
                    let _ = b.attempt_result(now, CallbackId(i64::from(i)), outcome);
                }
                Op::Served(n) => b.served(now, &number(n), SALES),
                Op::Cancel(i) => { let _ = b.cancel(now, CallbackId(i64::from(i))); }
                Op::Wait(mins) => {
                    let until = now.checked_add(jiff::SignedDuration::from_mins(i64::from(mins))).unwrap();
                    while let Some(at) = b.poll_timeout().filter(|&at| at <= until) {
                        now = now.max(at);
                        b.handle_timeout(now);
                        apply(&mut b, &c, now, &mut in_acd, &mut stored)?;
                    }
                    now = until;
                    b.handle_timeout(now);
                }
            }
            apply(&mut b, &c, now, &mut in_acd, &mut stored)?;
            for (id, cb) in b.pending() {
                prop_assert_eq!(stored.get(&id), Some(&cb.state()));
                prop_assert!(cb.attempts() < 3);
                prop_assert_eq!(in_acd.contains(&id), cb.state() == State::Queued);
            }
        }
    }
}

/// Apply what the book told the driver to a model of the ACD and the store.
fn apply(
    b: &mut CallbackBook,
    c: &crate::calendar::WorkCalendar,
    now: Timestamp,
    in_acd: &mut BTreeSet<CallbackId>,
    stored: &mut HashMap<CallbackId, State>,
) -> Result<(), TestCaseError> {
    while let Some(a) = b.poll_action() {
        match a {
            Enqueue { id, since, .. } => {
                prop_assert!(c.is_working_time(now).unwrap(), "{}", local(now));
                prop_assert_eq!(since, t("2026-12-01T09:55"));
                prop_assert!(in_acd.insert(id), "enqueued twice");
            }
            Withdraw { id } => {
                in_acd.remove(&id);
            }
            Persist { id, state, .. } => {
                stored.insert(id, state);
                if state == State::Placing {
                    // Reserved: the driver takes it out of the ACD.
                    prop_assert!(in_acd.remove(&id));
                }
            }
            Fact(_) => {}
        }
    }
    Ok(())
}
