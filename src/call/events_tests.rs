//! Tests of `crate::call::events` (explicit time where time matters).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use super::*;

fn ev(n: u64) -> CallEvent {
    CallEvent {
        at: jiff::Timestamp::from_second(1_767_225_600 + n as i64).expect("in range"),
        call: CallId(n),
        fact: CallFact::IvrNode {
            node: format!("node-{n}"),
        },
    }
}

fn calls(events: &[CallEvent]) -> Vec<u64> {
    events.iter().map(|e| e.call.0).collect()
}

async fn recv_n(sub: &mut DurableSubscriber, n: usize) -> Vec<CallEvent> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(sub.recv().await.expect("bus alive"));
    }
    out
}

/// Counters and gauges by `name{subscriber}`, for this thread only.
#[derive(Default)]
struct TestRecorder {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl TestRecorder {
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<String> = key.labels().map(|l| l.value().to_string()).collect();
        let id = format!("{}{{{}}}", key.name(), labels.join(","));
        lock(&self.values).entry(id).or_default().clone()
    }
    fn counter(&self, name: &str, subscriber: &str) -> u64 {
        lock(&self.values)
            .get(&format!("{name}{{{subscriber}}}"))
            .map_or(0, |v| v.load(Ordering::Relaxed))
    }
    fn gauge(&self, name: &str, subscriber: &str) -> f64 {
        f64::from_bits(self.counter(name, subscriber))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.slot(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.slot(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn every_fact_round_trips_through_json() {
    let (a, b) = (LegId(1), LegId(2));
    let facts = [
        CallFact::Arrived {
            caller: "+77011234567".into(),
            dialled: "1414".into(),
        },
        CallFact::Answered,
        CallFact::IvrNode {
            node: "main_menu".into(),
        },
        CallFact::Digit {
            digit: '#',
            source: DigitSource::Rfc4733,
        },
        CallFact::Digit {
            digit: '5',
            source: DigitSource::Info,
        },
        CallFact::Digit {
            digit: '0',
            source: DigitSource::Inband,
        },
        CallFact::LegRinging {
            leg: a,
            target: "op-101".into(),
        },
        CallFact::LegAnswered {
            leg: a,
            target: "op-101".into(),
        },
        CallFact::LegFailed {
            leg: b,
            target: "op-102".into(),
            status: Some(486),
            outcome: "busy".into(),
        },
        CallFact::LegFailed {
            leg: b,
            target: "op-102".into(),
            status: None,
            outcome: "no_answer".into(),
        },
        CallFact::Bridged { a, b },
        CallFact::Unbridged { a, b },
        CallFact::LegEnded {
            leg: b,
            cause: EndCause::OperatorHungUp,
            side: Side::Operator,
        },
        CallFact::Ended {
            cause: EndCause::CallerHungUp,
            side: Side::Caller,
        },
    ];
    for fact in facts {
        let event = CallEvent {
            at: jiff::Timestamp::from_second(1_767_225_600).expect("in range"),
            call: CallId(7),
            fact,
        };
        let json = serde_json::to_string(&event).expect("serializes");
        let back: CallEvent = serde_json::from_str(&json).expect(&json);
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn ended_event_serializes_to_a_flat_snake_case_object() {
    let event = CallEvent {
        at: "2026-01-01T00:00:00Z".parse().expect("timestamp"),
        call: CallId(7),
        fact: CallFact::Ended {
            cause: EndCause::AckTimeout,
            side: Side::System,
        },
    };
    let json = serde_json::to_value(&event).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "at": "2026-01-01T00:00:00Z",
            "call": 7,
            "fact": "ended",
            "cause": "ack_timeout",
            "side": "system",
        })
    );
}

#[test]
fn every_end_cause_and_side_has_a_distinct_label_matching_its_json() {
    let causes = [
        EndCause::CallerHungUp,
        EndCause::CallerCancelled,
        EndCause::OperatorHungUp,
        EndCause::FlowCompleted,
        EndCause::MenuFailed,
        EndCause::AckTimeout,
        EndCause::RtpTimeout,
        EndCause::NoCommonCodec,
        EndCause::Rejected,
        EndCause::Shutdown,
        EndCause::Error,
    ];
    let mut labels: Vec<&str> = causes.iter().map(|c| c.label()).collect();
    for c in causes {
        assert_eq!(serde_json::to_value(c).expect("ser"), c.label());
    }
    for s in [Side::Caller, Side::Operator, Side::System] {
        assert_eq!(serde_json::to_value(s).expect("ser"), s.label());
    }
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), causes.len());
}

#[tokio::test]
async fn two_lossy_subscribers_both_receive_every_event_in_order() {
    let bus = EventBus::new(64);
    let mut first = bus.subscribe("first");
    let mut second = bus.subscribe("second");
    for n in 0..50 {
        bus.publish(ev(n));
    }
    for sub in [&mut first, &mut second] {
        for n in 0..50 {
            assert_eq!(sub.recv().await.expect("open").call, CallId(n));
        }
        assert_eq!(sub.skipped(), 0);
    }
}

#[tokio::test]
async fn lossy_subscriber_that_never_reads_does_not_block_publish_and_reports_lag() {
    let rec = TestRecorder::default();
    let _guard = metrics::set_default_local_recorder(&rec);
    let bus = EventBus::new(64);
    let mut slow = bus.subscribe("console");
    for n in 0..10_000 {
        bus.publish(ev(n));
    }
    let mut got = Vec::new();
    while got.len() < 64 {
        got.push(slow.recv().await.expect("open").call.0);
    }
    assert_eq!(got, (10_000 - 64..10_000).collect::<Vec<_>>());
    assert_eq!(slow.skipped(), 10_000 - 64);
    assert_eq!(rec.counter(EVENTS_DROPPED, "console"), 10_000 - 64);
}

#[tokio::test]
async fn lossy_recv_returns_none_after_the_bus_is_dropped_and_read() {
    let bus = EventBus::new(8);
    let mut sub = bus.subscribe("metrics");
    bus.publish(ev(1));
    let clone = bus.clone();
    drop(bus);
    clone.publish(ev(2));
    drop(clone);
    assert_eq!(sub.recv().await.expect("first").call, CallId(1));
    assert_eq!(sub.recv().await.expect("second").call, CallId(2));
    assert!(sub.recv().await.is_none());
}

#[tokio::test]
async fn durable_subscriber_gets_every_event_in_order_through_the_spill_file() {
    let rec = TestRecorder::default();
    let _guard = metrics::set_default_local_recorder(&rec);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("records.spill");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 8, path.clone())
        .expect("subscribe");

    for n in 0..1_000 {
        bus.publish(ev(n));
    }
    assert!(path.exists(), "spilling under pressure");
    assert_eq!(rec.counter(EVENTS_SPILLED, "records"), 992);
    assert_eq!(rec.gauge(EVENTS_BUFFERED, "records"), 1_000.0);

    let mut got = recv_n(&mut sub, 500).await;
    assert!(path.exists(), "still reading back");
    got.extend(recv_n(&mut sub, 500).await);
    assert_eq!(calls(&got), (0..1_000).collect::<Vec<_>>());
    assert!(!path.exists(), "spill file removed once read back");
    assert_eq!(rec.gauge(EVENTS_BUFFERED, "records"), 0.0);

    for n in 1_000..2_000 {
        bus.publish(ev(n));
    }
    let got = recv_n(&mut sub, 1_000).await;
    assert_eq!(calls(&got), (1_000..2_000).collect::<Vec<_>>());
    drop(bus);
    assert!(sub.recv().await.is_none(), "exactly once: nothing left");
    assert_eq!(sub.lost(), 0);
    assert_eq!(rec.counter(EVENTS_DROPPED, "records"), 0);
}

#[tokio::test]
async fn durable_interleaved_publish_and_read_keeps_publish_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 8, dir.path().join("spill"))
        .expect("subscribe");
    for n in 0..20 {
        bus.publish(ev(n));
    }
    let mut got = recv_n(&mut sub, 5).await;
    for n in 20..40 {
        bus.publish(ev(n));
    }
    got.extend(recv_n(&mut sub, 35).await);
    assert_eq!(calls(&got), (0..40).collect::<Vec<_>>());
}

#[tokio::test]
async fn durable_recv_returns_none_only_after_the_bus_is_dropped_and_the_backlog_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 4, dir.path().join("spill"))
        .expect("subscribe");
    for n in 0..10 {
        bus.publish(ev(n));
    }
    drop(bus);
    let got = recv_n(&mut sub, 10).await;
    assert_eq!(calls(&got), (0..10).collect::<Vec<_>>());
    assert!(sub.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn durable_recv_waits_for_the_next_publish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 4, dir.path().join("spill"))
        .expect("subscribe");
    let idle = tokio::time::timeout(Duration::from_secs(60), sub.recv()).await;
    assert!(idle.is_err(), "nothing published yet");
    let publisher = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        publisher.publish(ev(1));
    });
    assert_eq!(sub.recv().await.expect("published").call, CallId(1));
}

#[tokio::test]
async fn durable_spill_to_an_unwritable_path_counts_lost_events_without_panicking() {
    let rec = TestRecorder::default();
    let _guard = metrics::set_default_local_recorder(&rec);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("no-such-dir").join("spill");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 8, path)
        .expect("subscribe");
    for n in 0..20 {
        bus.publish(ev(n));
    }
    assert_eq!(sub.lost(), 12);
    assert_eq!(rec.counter(EVENTS_DROPPED, "records"), 12);
    drop(bus);
    let got = recv_n(&mut sub, 8).await;
    assert_eq!(calls(&got), (0..8).collect::<Vec<_>>(), "memory kept");
    assert!(sub.recv().await.is_none());
}

#[tokio::test]
async fn dropping_a_durable_subscriber_removes_its_spill_file_and_detaches_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("spill");
    let bus = EventBus::new(8);
    let sub = bus
        .subscribe_durable("records", 2, path.clone())
        .expect("subscribe");
    for n in 0..10 {
        bus.publish(ev(n));
    }
    assert!(path.exists());
    drop(sub);
    assert!(!path.exists());
    bus.publish(ev(10));
    assert!(!path.exists(), "a detached subscriber buffers nothing");
    assert!(lock(&bus.inner.durable).is_empty());
}

#[tokio::test]
async fn durable_recv_cancelled_mid_read_back_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 4, dir.path().join("spill"))
        .expect("subscribe");
    for n in 0..1_000 {
        bus.publish(ev(n));
    }
    let mut got = Vec::new();
    let mut cancelled = 0;
    while got.len() < 1_000 {
        // Poll `recv` once and drop it if it is not ready: a cancellation.
        let polled = {
            let mut recv = std::pin::pin!(sub.recv());
            std::future::poll_fn(|cx| std::task::Poll::Ready(recv.as_mut().poll(cx))).await
        };
        match polled {
            std::task::Poll::Ready(ev) => got.push(ev.expect("bus alive")),
            std::task::Poll::Pending => cancelled += 1,
        }
        tokio::task::yield_now().await;
        assert!(cancelled < 10_000_000, "read back makes progress");
    }
    assert_eq!(calls(&got), (0..1_000).collect::<Vec<_>>());
    assert!(cancelled > 0, "some reads were cancelled mid-way");
    assert_eq!(sub.lost(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_reader_concurrent_with_publisher_gets_every_event_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = EventBus::new(8);
    let mut sub = bus
        .subscribe_durable("records", 16, dir.path().join("spill"))
        .expect("subscribe");
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(ev) = sub.recv().await {
            got.push(ev.call.0);
        }
        (got, sub.lost())
    });
    for n in 0..5_000 {
        bus.publish(ev(n));
        if n % 97 == 0 {
            tokio::task::yield_now().await;
        }
    }
    drop(bus);
    let (got, lost) = reader.await.expect("reader");
    assert_eq!(got, (0..5_000).collect::<Vec<_>>());
    assert_eq!(lost, 0);
}
