//! The call metrics subscriber: turns call facts into `qonyrau_calls_total{end,side}`,
//! `qonyrau_dtmf_digits_total{source}`, operator-leg outcomes, the bridged-calls gauge and
//! each media leg's jitter, loss and round trip (`qonyrau_leg_*{side}` histograms). Pure counting in [`CallMetrics`]
//! (testable without a bus); [`run`] feeds it from a lossy subscription (a lagging
//! subscriber's skipped events are counted as `qonyrau_events_dropped_total{subscriber}`).

use std::collections::HashSet;

use crate::call::events::{CallEvent, CallFact, EventBus};
use crate::sip::uac::Outcome;
use crate::telemetry;

/// What the subscriber keeps between events: which calls are bridged now.
#[derive(Debug, Default)]
pub struct CallMetrics {
    bridged: HashSet<u64>,
}

impl CallMetrics {
    pub fn handle(&mut self, ev: &CallEvent) {
        match &ev.fact {
            CallFact::Ended { cause, side } => {
                metrics::counter!(telemetry::CALLS_TOTAL, "end" => cause.label(), "side" => side.label())
                    .increment(1);
                if self.bridged.remove(&ev.call.0) {
                    self.gauge();
                }
            }
            CallFact::Digit { source, .. } => {
                metrics::counter!(telemetry::DTMF_DIGITS, "source" => source.label()).increment(1);
            }
            CallFact::LegAnswered { .. } => {
                metrics::counter!(telemetry::OPERATOR_LEGS, "outcome" => "answered").increment(1);
            }
            CallFact::LegFailed { outcome, .. } => {
                let outcome = leg_outcome_label(outcome);
                metrics::counter!(telemetry::OPERATOR_LEGS, "outcome" => outcome).increment(1);
            }
            CallFact::Bridged { .. } => {
                self.bridged.insert(ev.call.0);
                self.gauge();
            }
            CallFact::Unbridged { .. } => {
                self.bridged.remove(&ev.call.0);
                self.gauge();
            }
            CallFact::LegQuality {
                leg,
                fraction_lost,
                jitter_ms,
                round_trip_ms,
                ..
            } => {
                let side = if *leg == crate::call::core::CALLER_LEG {
                    "caller"
                } else {
                    "operator"
                };
                metrics::histogram!(telemetry::LEG_JITTER, "side" => side)
                    .record(f64::from(*jitter_ms));
                metrics::histogram!(telemetry::LEG_LOSS, "side" => side)
                    .record(f64::from(*fraction_lost));
                if let Some(rtt) = round_trip_ms {
                    metrics::histogram!(telemetry::LEG_ROUND_TRIP, "side" => side)
                        .record(f64::from(*rtt));
                }
            }
            _ => {}
        }
    }

    pub fn bridged(&self) -> usize {
        self.bridged.len()
    }

    fn gauge(&self) {
        metrics::gauge!(telemetry::CALLS_BRIDGED).set(self.bridged.len() as f64);
    }
}

/// Bounded label values: an unexpected outcome string is counted as `other`.
fn leg_outcome_label(outcome: &str) -> &'static str {
    Outcome::LABELS
        .iter()
        .find(|k| **k == outcome)
        .copied()
        .unwrap_or("other")
}

/// Count every call fact until the bus closes.
pub async fn run(bus: EventBus) {
    let mut sub = bus.subscribe("call_metrics");
    drop(bus);
    let mut m = CallMetrics::default();
    while let Some(ev) = sub.recv().await {
        m.handle(&ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::events::{CallId, EndCause, LegId, Side};

    fn ev(call: u64, fact: CallFact) -> CallEvent {
        CallEvent {
            at: jiff::Timestamp::UNIX_EPOCH,
            call: CallId(call),
            fact,
        }
    }

    #[test]
    fn a_call_is_bridged_until_unbridged_or_ended() {
        let mut m = CallMetrics::default();
        m.handle(&ev(
            1,
            CallFact::Bridged {
                a: LegId(0),
                b: LegId(1),
            },
        ));
        m.handle(&ev(
            2,
            CallFact::Bridged {
                a: LegId(0),
                b: LegId(1),
            },
        ));
        assert_eq!(m.bridged(), 2);
        m.handle(&ev(
            1,
            CallFact::Unbridged {
                a: LegId(0),
                b: LegId(1),
            },
        ));
        assert_eq!(m.bridged(), 1);
        m.handle(&ev(
            2,
            CallFact::Ended {
                cause: EndCause::CallerHungUp,
                side: Side::Caller,
            },
        ));
        assert_eq!(m.bridged(), 0);
    }

    #[test]
    fn unknown_leg_outcomes_are_bounded_to_other() {
        assert_eq!(leg_outcome_label("busy"), "busy");
        assert_eq!(leg_outcome_label("+77011234567"), "other");
    }
}
