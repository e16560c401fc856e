//! Logs and metrics set-up, and the metric names (DESIGN.md fixes the KPI names; these are
//! the engine's own). Installed once per process by `main`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const SIP_REQUESTS: &str = "qonyrau_sip_requests_total"; // {method}
pub const SIP_RESPONSES: &str = "qonyrau_sip_responses_total"; // {method, code}: responses we send
pub const SIP_REQUESTS_SENT: &str = "qonyrau_sip_requests_sent_total"; // {method}
pub const SIP_PARSE_ERRORS: &str = "qonyrau_sip_parse_errors_total"; // {transport, action=rejected|dropped}
pub const SIP_OVERLOAD_DROPS: &str = "qonyrau_sip_overload_drops_total"; // inbound queue full
/// Datagrams the kernel dropped because a SIP/UDP socket's receive buffer was full (SO_RXQ_OVFL).
pub const SIP_UDP_KERNEL_DROPS: &str = "qonyrau_sip_udp_kernel_drops_total"; // {listen}
pub const CALLS_ACTIVE: &str = "qonyrau_calls_active";
pub const CALLS_TOTAL: &str = "qonyrau_calls_total"; // {end}
pub const CALLS_REFUSED: &str = "qonyrau_calls_refused_total"; // {reason}
pub const RTP_SENT: &str = "qonyrau_rtp_packets_sent_total";
pub const RTP_RECEIVED: &str = "qonyrau_rtp_packets_received_total";
pub const RTP_SKIPPED: &str = "qonyrau_rtp_frames_skipped_total"; // late wake-ups
pub const RTCP_SENT: &str = "qonyrau_rtcp_packets_sent_total";
pub const RTCP_RECEIVED: &str = "qonyrau_rtcp_packets_received_total";
pub const RTCP_INVALID: &str = "qonyrau_rtcp_packets_invalid_total"; // not valid compound RTCP
pub const DTMF_DIGITS: &str = "qonyrau_dtmf_digits_total"; // {source}
pub const SIP_REGISTRATIONS: &str = "qonyrau_sip_registrations_total"; // {result=ok|db_unavailable}
pub const SIP_REGISTERED: &str = "qonyrau_sip_registered_extensions";
pub const SIP_AUTH_FAILURES: &str = "qonyrau_sip_auth_failures_total"; // {reason}
pub const SIP_LOCKOUTS: &str = "qonyrau_sip_lockouts_total";
/// Packets relayed from one bridged leg to the other.
pub const RTP_RELAYED: &str = "qonyrau_rtp_relayed_total";
/// Packets received on a bridged leg and not relayed, by `reason` (bridge.rs `DropReason`).
pub const RTP_RELAY_DROPPED: &str = "qonyrau_rtp_relay_dropped_total";
pub const OPERATOR_LEGS: &str = "qonyrau_operator_legs_total"; // {outcome}
pub const CALLS_BRIDGED: &str = "qonyrau_calls_bridged";
/// Callbacks by queue and outcome: requested, refused, placed, attempt_failed, completed,
/// failed, closed_served, cancelled.
pub const CALLBACKS: &str = "qonyrau_callbacks_total";
/// Callbacks now, by queue and state (pending: waiting for their turn or time; placing).
pub const CALLBACKS_PENDING: &str = "qonyrau_callbacks";
/// Legs not placed because their trunk was at `max_calls`, by trunk.
pub const TRUNK_LIMITED: &str = "qonyrau_trunk_limited_total";
/// Agents' state changes, by the state entered (`qonyrau_agent_state_changes_total{to}`).
pub const AGENT_STATE_CHANGES: &str = "qonyrau_agent_state_changes_total";
/// Agent activity log lines not written (queue full, database down).
pub const AGENT_ACTIVITY_LOST: &str = "qonyrau_agent_activity_lost_total";
/// Queues (labels: queue name) and agents (label: state).
pub const QUEUE_WAITING: &str = "qonyrau_queue_waiting";
pub const QUEUE_LONGEST_WAIT: &str = "qonyrau_queue_longest_wait_seconds";
/// The estimated wait of a caller joining now (−1: nobody serving).
pub const QUEUE_EWT: &str = "qonyrau_queue_ewt_seconds";
pub const AGENTS: &str = "qonyrau_agents";
/// Callers leaving a queue, by `outcome`: answered, abandoned, overflowed.
pub const QUEUE_CALLS: &str = "qonyrau_queue_calls_total";
/// First estimate told minus the wait really had, per answered caller (histogram {queue}).
pub const EWT_ERROR: &str = "qonyrau_ewt_error_seconds";
/// Per media leg at its release (RTCP, RFC 3550), by `side` (caller or operator).
pub const LEG_JITTER: &str = "qonyrau_leg_jitter_ms"; // histogram {side}
pub const LEG_LOSS: &str = "qonyrau_leg_loss_ratio"; // histogram {side}
pub const LEG_ROUND_TRIP: &str = "qonyrau_leg_round_trip_ms"; // histogram {side}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the Prometheus recorder (idempotent) and return the handle `/metrics` renders.
pub fn metrics() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            use metrics_exporter_prometheus::Matcher;
            let ms = [
                1.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 400.0, 1000.0,
            ];
            let ratio = [0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LEG_JITTER.into()), &ms)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LEG_ROUND_TRIP.into()), &ms))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LEG_LOSS.into()), &ratio))
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(EWT_ERROR.into()),
                        &[
                            -300.0, -120.0, -60.0, -30.0, -15.0, 0.0, 15.0, 30.0, 60.0, 120.0,
                            300.0,
                        ],
                    )
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // A second install in the same process (tests) keeps the first recorder.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(SIP_REQUESTS, "SIP requests received, by method");
    describe_counter!(
        SIP_RESPONSES,
        "SIP responses sent, by method and status code"
    );
    describe_counter!(
        SIP_PARSE_ERRORS,
        "SIP messages that could not be parsed or were invalid"
    );
    describe_counter!(
        SIP_OVERLOAD_DROPS,
        "SIP datagrams dropped because the endpoint's queue was full"
    );
    describe_counter!(
        SIP_UDP_KERNEL_DROPS,
        "SIP datagrams the kernel dropped because the UDP socket's receive buffer was full, by listen address"
    );
    describe_gauge!(CALLS_ACTIVE, "Calls in progress");
    describe_counter!(
        SIP_REGISTRATIONS,
        "REGISTER requests accepted (ok) or lost to the database"
    );
    describe_gauge!(
        SIP_REGISTERED,
        "Extensions with at least one registered contact"
    );
    describe_counter!(SIP_AUTH_FAILURES, "REGISTER requests refused, by reason");
    describe_counter!(
        SIP_LOCKOUTS,
        "SIP extensions locked after five wrong digest answers"
    );
    describe_counter!(
        CALLS_TOTAL,
        "Calls ended, by cause and the side that ended them"
    );
    describe_counter!(
        OPERATOR_LEGS,
        "Calls placed to operators' contacts, by outcome"
    );
    describe_gauge!(CALLS_BRIDGED, "Calls bridged to an operator now");
    describe_counter!(
        CALLBACKS,
        "Callbacks by queue and outcome (requested, refused, placed, attempt_failed, completed, failed, closed_served, cancelled)"
    );
    describe_gauge!(
        CALLBACKS_PENDING,
        "Callbacks now, by queue and state (pending, placing)"
    );
    describe_counter!(
        TRUNK_LIMITED,
        "Calls not placed through a trunk because it was at its max_calls, by trunk"
    );
    metrics::describe_histogram!(
        LEG_JITTER,
        "Interarrival jitter of each media leg at its end (RFC 3550 A.8), ms, by side"
    );
    metrics::describe_histogram!(
        LEG_LOSS,
        "Packets lost over expected on each media leg at its end, by side"
    );
    metrics::describe_histogram!(
        LEG_ROUND_TRIP,
        "Round trip from the peer's RTCP reports on each media leg at its end, ms, by side"
    );
    describe_counter!(RTP_RELAYED, "RTP packets relayed between bridged legs");
    describe_counter!(
        RTP_RELAY_DROPPED,
        "RTP packets on bridged legs not relayed, by reason"
    );
    describe_counter!(
        CALLS_REFUSED,
        "INVITEs refused before a call started, by reason"
    );
    describe_counter!(RTP_SENT, "RTP packets sent");
    describe_counter!(RTP_RECEIVED, "RTP packets received");
    describe_counter!(RTCP_SENT, "RTCP compound reports sent (SR or RR + SDES)");
    describe_counter!(RTCP_RECEIVED, "valid RTCP compound packets received");
    describe_counter!(
        RTCP_INVALID,
        "datagrams taken for RTCP that were not valid compound RTCP"
    );
    describe_counter!(
        DTMF_DIGITS,
        "DTMF digits received, by source (rfc4733, info, inband)"
    );
    describe_desk();
}

/// The service desk's metrics (names defined beside the code that records them).
fn describe_desk() {
    use crate::staff::session::{LOGIN_FAILURES, LOGIN_LOCKOUTS};
    use crate::tickets::sla_job::{SLA_BREACHES, TICKETS_AUTO_CLOSED, TICKETS_OPEN};
    use crate::tickets::store::TICKET_OPENED;
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(TICKET_OPENED, "Tickets opened, by type and channel");
    describe_counter!(
        SLA_BREACHES,
        "SLA deadlines missed, by kind (first_response, resolve, fix, review)"
    );
    describe_gauge!(
        TICKETS_OPEN,
        "Tickets not closed or refused, by status and priority"
    );
    describe_counter!(
        TICKETS_AUTO_CLOSED,
        "Tickets closed as 'no response from the user'"
    );
    describe_counter!(
        LOGIN_FAILURES,
        "Failed logins, by reason (bad_password, unknown_login, locked, throttled)"
    );
    describe_counter!(
        LOGIN_LOCKOUTS,
        "Logins locked after five wrong passwords in a row"
    );
}

/// Structured logs to stderr; `RUST_LOG` overrides the configured filter.
pub fn init_logs(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal()) // colours only for a person at a terminal
        .with_writer(std::io::stderr)
        .try_init();
}
