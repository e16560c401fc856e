//! Tests of `crate::sip::session_timer` in explicit time.
#![allow(clippy::disallowed_methods)]

use super::*;

fn invite(headers: &str) -> Message {
    let text = format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKs1\r\nFrom: <sip:a@h>;tag=a\r\nTo: <sip:100@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{headers}\r\n"
    );
    Message::parse(text.as_bytes()).unwrap()
}

fn on(n: Negotiated) -> SessionTimer {
    match n {
        Negotiated::On(t) => t,
        other => panic!("expected a session timer, got {other:?}"),
    }
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn a_peer_without_timer_support_gets_no_session_timer_even_with_session_expires() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy::default();
    assert_eq!(negotiate(&invite(""), &policy, t0), Negotiated::Off);
    // A proxy inserted Session-Expires, the UAC knows nothing: we would have to refresh a
    // peer that never said it understands; we do not.
    assert_eq!(
        negotiate(&invite("Session-Expires: 90\r\n"), &policy, t0),
        Negotiated::Off
    );
}

#[test]
fn the_requested_interval_and_refresher_are_kept_and_the_2xx_says_so() {
    let t0 = Instant::now();
    let t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n"),
        &SessionTimerPolicy::default(),
        t0,
    ));
    assert_eq!(t.interval(), S(90));
    assert_eq!(t.refresher(), Refresher::Uac);
    assert_eq!(
        t.response_headers(),
        [
            ("session-expires", "90;refresher=uac".to_string()),
            ("require", "timer".to_string())
        ]
    );
}

#[test]
fn without_a_refresher_the_peer_refreshes_and_without_an_interval_we_ask_ours() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy::default();
    let t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: 600\r\n"),
        &policy,
        t0,
    ));
    assert_eq!((t.interval(), t.refresher()), (S(600), Refresher::Uac));
    let t = on(negotiate(&invite("Supported: timer\r\n"), &policy, t0));
    assert_eq!((t.interval(), t.refresher()), (S(1800), Refresher::Uac));
}

#[test]
fn an_interval_longer_than_ours_is_shortened_but_never_below_the_requests_min_se() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy {
        session_expires: S(300),
        min_se: S(90),
    };
    let t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: 7200\r\n"),
        &policy,
        t0,
    ));
    assert_eq!(t.interval(), S(300));
    let t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 1000\r\n"),
        &policy,
        t0,
    ));
    assert_eq!(t.interval(), S(1000));
}

#[test]
fn an_interval_below_our_min_se_gets_422_with_min_se() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy {
        session_expires: S(1800),
        min_se: S(120),
    };
    assert_eq!(
        negotiate(
            &invite("Supported: timer\r\nSession-Expires: 90\r\n"),
            &policy,
            t0
        ),
        Negotiated::TooSmall { min_se: 120 }
    );
    // RFC 4028 §4: 90 s is the floor whatever the config says.
    let lax = SessionTimerPolicy {
        session_expires: S(1800),
        min_se: S(30),
    };
    assert_eq!(
        negotiate(
            &invite("Require: timer\r\nSession-Expires: 60\r\n"),
            &lax,
            t0
        ),
        Negotiated::TooSmall { min_se: 90 }
    );
}

#[test]
fn a_session_the_peer_does_not_refresh_expires_a_third_before_its_end_at_most_32_s() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy::default();
    let t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: 90\r\n"),
        &policy,
        t0,
    ));
    // 90 − min(32, 30) = 60 s.
    assert_eq!(t.poll_timeout(), Some(t0 + S(60)));
    let mut t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: 1800\r\n"),
        &policy,
        t0,
    ));
    assert_eq!(t.poll_timeout(), Some(t0 + S(1768)));
    assert_eq!(t.handle_timeout(t0 + S(1767)), None);
    assert_eq!(t.handle_timeout(t0 + S(1768)), Some(TimerAction::Expired));
}

#[test]
fn a_refresh_renegotiated_at_its_arrival_starts_a_new_interval() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy::default();
    let req = invite("Supported: timer\r\nSession-Expires: 90\r\n");
    let t = on(negotiate(&req, &policy, t0));
    let refreshed = on(negotiate(&req, &policy, t0 + S(45)));
    assert_eq!(t.poll_timeout(), Some(t0 + S(60)));
    assert_eq!(refreshed.poll_timeout(), Some(t0 + S(105)));
}

#[test]
fn when_asked_to_refresh_we_send_update_at_half_time_if_allowed_else_reinvite() {
    let t0 = Instant::now();
    let policy = SessionTimerPolicy::default();
    let mut t = on(negotiate(
        &invite("Supported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\nSession-Expires: 120;refresher=uas\r\n"),
        &policy,
        t0,
    ));
    assert_eq!(
        t.response_headers()[0],
        ("session-expires", "120;refresher=uas".to_string())
    );
    assert_eq!(t.poll_timeout(), Some(t0 + S(60)));
    assert_eq!(
        t.handle_timeout(t0 + S(60)),
        Some(TimerAction::Refresh(RefreshMethod::Update))
    );
    // While our refresh runs, the deadline is the session's end.
    assert_eq!(t.poll_timeout(), Some(t0 + S(88)));
    assert_eq!(t.refresh_answered(t0 + S(61), 200), None);
    assert_eq!(t.poll_timeout(), Some(t0 + S(121)));

    let mut no_update = on(negotiate(
        &invite(
            "Supported: timer\r\nAllow: INVITE, ACK, BYE\r\nSession-Expires: 120;refresher=uas\r\n",
        ),
        &policy,
        t0,
    ));
    assert_eq!(
        no_update.handle_timeout(t0 + S(60)),
        Some(TimerAction::Refresh(RefreshMethod::ReInvite))
    );
}

#[test]
fn a_refresh_answered_408_or_481_ends_the_session_and_other_failures_let_it_expire() {
    let t0 = Instant::now();
    let req = invite("Supported: timer\r\nAllow: UPDATE\r\nSession-Expires: 120;refresher=uas\r\n");
    let policy = SessionTimerPolicy::default();
    for (status, then) in [
        (481, Some(TimerAction::Expired)),
        (408, Some(TimerAction::Expired)),
        (501, None),
    ] {
        let mut t = on(negotiate(&req, &policy, t0));
        t.handle_timeout(t0 + S(60));
        assert_eq!(t.refresh_answered(t0 + S(60), status), then, "{status}");
    }
    let mut t = on(negotiate(&req, &policy, t0));
    t.handle_timeout(t0 + S(60));
    t.refresh_answered(t0 + S(60), 501);
    assert_eq!(
        t.poll_timeout(),
        Some(t0 + S(88)),
        "no second refresh; expiry"
    );
    assert_eq!(t.handle_timeout(t0 + S(88)), Some(TimerAction::Expired));
}

#[test]
fn a_malformed_session_expires_is_treated_as_absent() {
    let t0 = Instant::now();
    let t = on(negotiate(
        &invite("Supported: timer\r\nSession-Expires: soon\r\n"),
        &SessionTimerPolicy::default(),
        t0,
    ));
    assert_eq!(t.interval(), S(1800));
}
