//! Scripted scenarios in explicit time for the EWT estimator.

use super::*;

const A1: AgentId = AgentId(0);
const A2: AgentId = AgentId(1);
const A3: AgentId = AgentId(2);

fn ewt() -> Ewt {
    Ewt::new(EwtConfig::default())
}

/// Agent `agent` takes `n` calls of `talk` s with a `wrap` s wrap-up, starting at `t`;
/// returns the time it is ready after the last one.
fn calls(
    e: &mut Ewt,
    agent: AgentId,
    mut t: f64,
    n: usize,
    talk: f64,
    wrap: f64,
    next: &mut u64,
) -> f64 {
    for _ in 0..n {
        let caller = CallerId(*next);
        *next += 1;
        e.handle(t, &QueueEvent::Enter { caller });
        e.handle(t, &QueueEvent::Answer { caller, agent });
        e.handle(t + talk, &QueueEvent::Hangup { agent });
        e.handle(t + talk + wrap, &QueueEvent::Ready { agent });
        t += talk + wrap;
    }
    t
}

fn near(got: Option<f64>, want: f64, tol: f64) {
    let got = got.expect("an estimate");
    assert!(
        (got - want).abs() <= tol,
        "got {got:.2}, want {want} ± {tol}"
    );
}

/// One agent, talk history all 100 s, wrap-up 10 s, 40 s into a call: the next caller waits
/// the 60 s left plus 10 s of wrap-up; each further position one more 110 s cycle.
#[test]
fn deterministic_history_one_agent() {
    let mut e = ewt();
    let mut next = 0;
    e.handle(0.0, &QueueEvent::Login { agent: A1 });
    let t = calls(&mut e, A1, 0.0, 40, 100.0, 10.0, &mut next);
    e.handle(
        t,
        &QueueEvent::Enter {
            caller: CallerId(999),
        },
    );
    e.handle(
        t,
        &QueueEvent::Answer {
            caller: CallerId(999),
            agent: A1,
        },
    );
    let now = t + 40.0;
    near(e.estimate(now, 1), 70.0, 0.3);
    near(e.estimate(now, 2), 180.0, 0.3);
    near(e.estimate(now, 3), 290.0, 0.3);
    near(e.estimate(now, 5), 510.0, 0.3);
}

/// Before any history the talk time is exponential with the prior mean (180 s): the median
/// residual is 180·ln 2 whatever the elapsed time, plus wrap-up.
#[test]
fn prior_before_history() {
    let mut e = ewt();
    e.handle(0.0, &QueueEvent::Login { agent: A1 });
    e.handle(
        0.0,
        &QueueEvent::Enter {
            caller: CallerId(1),
        },
    );
    e.handle(
        0.0,
        &QueueEvent::Answer {
            caller: CallerId(1),
            agent: A1,
        },
    );
    let want = 10.0 + 180.0 * std::f64::consts::LN_2;
    near(e.estimate(0.0, 1), want, 0.3);
    near(e.estimate(500.0, 1), want, 0.3);
}

#[test]
fn idle_agents_answer_at_once() {
    let mut e = ewt();
    for a in [A1, A2, A3] {
        e.handle(0.0, &QueueEvent::Login { agent: a });
    }
    for p in 1..=3 {
        assert_eq!(e.estimate(10.0, p), Some(0.0));
    }
    let fourth = e.estimate(10.0, 4).expect("an estimate");
    assert!(fourth > 0.0, "{fourth}");
}

#[test]
fn wrap_up_remainder() {
    let mut e = ewt();
    let mut next = 0;
    e.handle(0.0, &QueueEvent::Login { agent: A1 });
    let t = calls(&mut e, A1, 0.0, 30, 100.0, 10.0, &mut next);
    e.handle(
        t,
        &QueueEvent::Enter {
            caller: CallerId(999),
        },
    );
    e.handle(
        t,
        &QueueEvent::Answer {
            caller: CallerId(999),
            agent: A1,
        },
    );
    e.handle(t + 100.0, &QueueEvent::Hangup { agent: A1 });
    near(e.estimate(t + 104.0, 1), 6.0, 0.3);
}

#[test]
fn no_serving_agent_gives_none() {
    let mut e = ewt();
    assert_eq!(e.estimate(0.0, 1), None);
    e.handle(0.0, &QueueEvent::Login { agent: A1 });
    e.handle(1.0, &QueueEvent::Logout { agent: A1 });
    assert_eq!(e.estimate(2.0, 1), None);
}

/// Two busy agents; one logs out (leaves after its call): the wait grows. Logging in again
/// before the call ends cancels the log-out.
#[test]
fn pending_logout() {
    let mut e = ewt();
    let mut next = 0;
    e.handle(0.0, &QueueEvent::Login { agent: A1 });
    e.handle(0.0, &QueueEvent::Login { agent: A2 });
    let t1 = calls(&mut e, A1, 0.0, 20, 100.0, 10.0, &mut next);
    let t = calls(&mut e, A2, t1, 20, 100.0, 10.0, &mut next);
    for (i, a) in [A1, A2].into_iter().enumerate() {
        let caller = CallerId(900 + i as u64);
        e.handle(t, &QueueEvent::Enter { caller });
        e.handle(
            t + 20.0 * i as f64,
            &QueueEvent::Answer { caller, agent: a },
        );
    }
    let now = t + 30.0; // A1 30 s in (70 + 10 left), A2 10 s in (90 + 10 left)
    near(e.estimate(now, 1), 80.0, 0.3);
    near(e.estimate(now, 2), 100.0, 0.3);
    e.handle(now, &QueueEvent::Logout { agent: A1 });
    near(e.estimate(now, 1), 100.0, 0.3);
    near(e.estimate(now, 2), 210.0, 0.3);
    e.handle(now + 1.0, &QueueEvent::Login { agent: A1 });
    near(e.estimate(now + 1.0, 1), 79.0, 0.3);
    // Leaving for real: after its wrap-up A1 is gone for good.
    e.handle(now + 1.0, &QueueEvent::Logout { agent: A1 });
    e.handle(now + 70.0, &QueueEvent::Hangup { agent: A1 });
    e.handle(now + 80.0, &QueueEvent::Ready { agent: A1 });
    near(e.estimate(now + 80.0, 1), 20.0, 0.3);
}

/// Callers ahead who abandon shorten the wait of those behind them.
#[test]
fn abandonment_shortens_wait() {
    let build = |abandons: bool| {
        let mut e = ewt();
        let mut next = 0;
        e.handle(0.0, &QueueEvent::Login { agent: A1 });
        let mut t = calls(&mut e, A1, 0.0, 300, 100.0, 10.0, &mut next);
        // 20 callers queue; for 600 s, with `abandons` one of them leaves each minute.
        for i in 0..20 {
            e.handle(
                t,
                &QueueEvent::Enter {
                    caller: CallerId(500 + i),
                },
            );
        }
        for i in 0..10 {
            t += 60.0;
            if abandons {
                e.handle(
                    t,
                    &QueueEvent::Abandon {
                        caller: CallerId(519 - i),
                    },
                );
            }
        }
        e.handle(
            t,
            &QueueEvent::Answer {
                caller: CallerId(500),
                agent: A1,
            },
        );
        (e, t)
    };
    let (calm, t) = build(false);
    let (leaving, t2) = build(true);
    assert_eq!(calm.abandon_hazard(), 0.0);
    let theta = leaving.abandon_hazard();
    assert!(theta > 0.0, "{theta}");
    let p1 = (calm.estimate(t, 1), leaving.estimate(t2, 1));
    near(p1.1, p1.0.unwrap(), 0.3); // nobody ahead of position 1 can abandon
    let (c, l) = (
        calm.estimate(t, 6).unwrap(),
        leaving.estimate(t2, 6).unwrap(),
    );
    assert!(l < c - 10.0, "calm {c}, with abandons {l}");
}

#[test]
fn estimate_grows_with_position_and_ignores_time_going_back() {
    let mut e = ewt();
    let mut next = 0;
    for a in [A1, A2, A3] {
        e.handle(0.0, &QueueEvent::Login { agent: a });
    }
    // Spread talk times 60..=300 s over three agents.
    let mut t: f64 = 0.0;
    for i in 0..60u32 {
        let a = AgentId(i % 3);
        let talk = 60.0 + f64::from((i * 37) % 241);
        t = t.max(calls(&mut e, a, t, 1, talk, 10.0, &mut next) - talk - 10.0 + 1.0);
    }
    let t = t + 400.0;
    for (i, a) in [A1, A2, A3].into_iter().enumerate() {
        e.handle(
            t,
            &QueueEvent::Enter {
                caller: CallerId(800 + i as u64),
            },
        );
        e.handle(
            t + 15.0 * i as f64,
            &QueueEvent::Answer {
                caller: CallerId(800 + i as u64),
                agent: a,
            },
        );
    }
    let now = t + 50.0;
    let mut last = 0.0;
    for p in 1..=40 {
        let w = e.estimate(now, p).unwrap();
        assert!(w >= last, "position {p}: {w} < {last}");
        last = w;
    }
    let before = e.estimate(now, 5);
    e.handle(
        now - 30.0,
        &QueueEvent::Enter {
            caller: CallerId(7),
        },
    ); // late event: clock stays
    assert_eq!(e.estimate(now, 5), before);
}
