//! Callbacks end to end: a SIPp caller waiting in the support queue presses the callback key,
//! confirms the number and "as soon as possible", hears the goodbye and is hung up; a second
//! request for the same number is refused; the server restarts and the request survives;
//! then a baresip operator logs in, is rung first (agent first) and hears who is called;
//! then a SIPp gateway standing for the customer behind the trunk (with a digest challenge,
//! as carriers send) is dialled, hears the reason first, and the two are bridged.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::calls::{sipp_caller, softphone};
use common::rtp_peer::{best_tone_window, decode, Law, RtpPeer};
use common::{
    best_match, free_udp_port, http_bearer, metric, peer, sipp, wait_metric, wav_samples, Server,
    ServerOpts,
};

const OPERATOR_HZ: f64 = 1000.0;
const CUSTOMER_HZ: f64 = 700.0;

fn prompt(name: &str) -> Vec<i16> {
    wav_samples(&common::repo().join(format!("sounds/en/{name}.wav")))
}

/// The support queue offering callbacks on key 5 at once, through a trunk to
/// 127.0.0.1:`carrier` (user qonyrau, password trunk-secret), at any hour.
fn config(carrier: u16) -> String {
    format!(
        "[acd]\nannounce_every = \"60s\"\n\
         [queues.support]\nnumber = \"600\"\nmembers = [\"2001\"]\nring_timeout = \"15s\"\n\
         callback_key = \"5\"\ncallback_offer_after = \"0s\"\ncallback_trunk = \"carrier\"\n\
         [trunks.carrier]\nproxy = \"sip:127.0.0.1:{carrier}\"\nusername = \"qonyrau\"\n\
         password = \"trunk-secret\"\ncaller_id = \"+77172000000\"\ndial_format = \"national\"\n\
         [callbacks]\nhours = \"always\"\nretry_delay = \"1m\"\n"
    )
}

fn start(config: &str, database_url: &str) -> Server {
    Server::start_opts(ServerOpts {
        ivr: config,
        database_url: Some(database_url),
        ..ServerOpts::default()
    })
}

#[test]
fn a_caller_books_a_callback_that_survives_a_restart_and_is_placed_agent_first_through_the_trunk() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/qonyrau.db", dir.path().display());
    let carrier_port = free_udp_port(false);
    let config = config(carrier_port);

    // 1. The caller books: 5, 1 (the number heard), 1 (as soon as possible); goodbye; BYE.
    let mut server = start(&config, &db);
    let (caller, call) = sipp_caller(&server, Law::Pcmu, "callback_book", &["-s", "600"]);
    let (code, log) = call.join().unwrap();
    assert_eq!(
        code,
        0,
        "booked and hung up: {log}\nserver:\n{}",
        server.log_text()
    );
    let heard = decode(&caller.take());
    let offer = best_match(&heard, &prompt("callback_offer"));
    assert!(
        offer > 0.8,
        "the announcement offered a callback: {offer:.2}"
    );
    let goodbye = best_match(&heard, &prompt("callback_booked_asap"));
    assert!(goodbye > 0.8, "the caller heard the booking: {goodbye:.2}");
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_callbacks{queue=\"support\",state=\"pending\"}",
            1.0,
            Duration::from_secs(5)
        ),
        Some(1.0),
        "one callback pending"
    );
    assert_eq!(
        metric(
            &server.metrics(),
            "qonyrau_queue_calls_total{queue=\"support\",outcome=\"callback\"}"
        ),
        Some(1.0),
        "the caller's leaving is a callback, not an abandon"
    );

    // 2. The same number again, while it is pending: refused, the caller stays in the queue.
    let (again, call) = sipp_caller(&server, Law::Pcmu, "callback_book_again", &["-s", "600"]);
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    let refused = best_match(&decode(&again.take()), &prompt("callback_already_booked"));
    assert!(refused > 0.8, "the second request is refused: {refused:.2}");
    // Their RTP ends stop (they would go on sending to ports the next server reuses).
    drop((caller, again));
    let m = server.metrics();
    assert_eq!(
        metric(&m, "qonyrau_callbacks{queue=\"support\",state=\"pending\"}"),
        Some(1.0),
        "still one: {m}"
    );

    // 3. A restart loses nothing.
    server.terminate();
    let server = start(&config, &db);
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_callbacks{queue=\"support\",state=\"pending\"}",
            1.0,
            Duration::from_secs(5)
        ),
        Some(1.0),
        "the pending callback was loaded again; server:\n{}",
        server.log_text()
    );

    // 4. The customer's side behind the trunk, then an operator logs in and is rung first.
    let customer = RtpPeer::start(Law::Pcmu, CUSTOMER_HZ);
    let (target, sdir) = (server.sip, server.dir.path().to_path_buf());
    let (customer_port, carrier) = (customer.port.to_string(), carrier_port.to_string());
    let gateway = std::thread::spawn(move || {
        sipp(
            "trunk_uas",
            target,
            &[
                "-p",
                &carrier,
                "-key",
                "sink_port",
                &customer_port,
                "-timeout",
                "90s",
            ],
            &sdir,
        )
    });
    let mut op = softphone(&server, "op1", "2001", OPERATOR_HZ, true);
    let r = op.cmd("dial", &format!("sip:*50@{}", server.sip));
    assert_eq!(r["ok"], true, "baresip dials *50: {r}");
    // The *50 call, then the callback call (auto-answered).
    let mut established = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while established < 2 && std::time::Instant::now() < deadline {
        if op
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(1))
            .is_some()
        {
            established += 1;
        }
    }
    assert_eq!(
        established,
        2,
        "the operator is rung for the callback; log:\n{}\nserver:\n{}",
        op.log_text(),
        server.log_text()
    );
    // Agent prompt, the customer dialled through the trunk, the customer's prompt, bridge.
    std::thread::sleep(Duration::from_secs(14));
    op.cmd("hangup", "");
    let (code, gateway_log) = gateway.join().unwrap();
    assert_eq!(
        code,
        0,
        "the gateway checked our credentials and got our BYE: {gateway_log}\nserver:\n{}",
        server.log_text()
    );
    assert!(
        gateway_log.contains(&format!(
            "INVITE sip:87011234567@127.0.0.1:{carrier_port} SIP/2.0"
        )),
        "the customer's number as the trunk wants it: {gateway_log}"
    );
    // What the customer heard: the reason first, then the operator.
    let packets = customer.take();
    let heard = decode(&packets);
    let reason = best_match(&heard, &prompt("callback_to_customer"));
    assert!(reason > 0.8, "the customer hears why we call: {reason:.2}");
    let first_second = &heard[..heard.len().min(8000)];
    assert!(
        best_tone_window(first_second, OPERATOR_HZ) < 0.5,
        "the reason comes before the operator"
    );
    let operator = best_tone_window(&heard, OPERATOR_HZ);
    assert!(
        operator > 0.8,
        "the customer hears the operator: {operator:.2}"
    );
    // What the operator heard (complete once the call is closed): who is called, then the
    // customer.
    for _ in 0..2 {
        op.wait_event("CALL_CLOSED", Duration::from_secs(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let recordings = op.heard();
    let callback_call = wav_samples(recordings.last().expect("the callback call recorded"));
    let told = best_match(&callback_call, &prompt("callback_to_agent"));
    assert!(
        told > 0.8,
        "the operator is told it is a callback: {told:.2}"
    );
    let customer_heard = best_tone_window(&callback_call, CUSTOMER_HZ);
    assert!(
        customer_heard > 0.8,
        "the operator hears the customer: {customer_heard:.2}"
    );
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_callbacks_total{queue=\"support\",outcome=\"completed\"}",
            1.0,
            Duration::from_secs(5)
        ),
        Some(1.0),
        "{}",
        server.metrics()
    );
}

/// A session token for `login` (password `Operator2026!`).
fn token(server: &Server, login: &str) -> String {
    let (status, body) = common::http_post_json(
        server.http,
        "/api/v1/session",
        &format!(r#"{{"login":"{login}","password":"Operator2026!"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_booked_callback_is_listed_and_a_supervisor_cancels_it_through_the_rest_api() {
    if !peer("sipp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/qonyrau.db", dir.path().display());
    let server = start(&config(free_udp_port(false)), &db);
    let (_caller, call) = sipp_caller(&server, Law::Pcmu, "callback_book", &["-s", "600"]);
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "booked: {log}");
    let (ok, out) = server.cli(
        &[
            "users",
            "add",
            "sup1",
            "--role",
            "supervisor",
            "--language",
            "en",
        ],
        "Operator2026!\n",
    );
    assert!(ok, "{out}");
    server.add_operator("op1", "2001", "sip-secret-2001");
    let (sup, op) = (token(&server, "sup1"), token(&server, "op1"));

    let (status, body) = http_bearer(
        server.http,
        "GET",
        "/api/v1/callbacks?state=pending",
        &op,
        "",
    );
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let cb = &list[0];
    assert_eq!(cb["number"], "+77011234567", "{cb}");
    assert_eq!(cb["queue"], "support");
    assert!(cb["ticket_id"].is_i64(), "linked to a ticket: {cb}");
    let id = cb["id"].as_i64().unwrap();

    let path = format!("/api/v1/callbacks/{id}");
    let (status, body) = http_bearer(server.http, "DELETE", &path, &op, "");
    assert_eq!(status, 403, "an operator may not cancel: {body}");
    let (status, body) = http_bearer(server.http, "DELETE", &path, &sup, "");
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_callbacks{queue=\"support\",state=\"pending\"}",
            0.0,
            Duration::from_secs(5)
        ),
        Some(0.0),
        "no longer pending"
    );
    let (status, body) = http_bearer(server.http, "GET", &path, &sup, "");
    assert_eq!(status, 200, "{body}");
    let one: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (one["state"].as_str(), one["close_reason"].as_str()),
        (Some("closed"), Some("cancelled")),
        "{one}"
    );
    let (status, body) = http_bearer(server.http, "DELETE", &path, &sup, "");
    assert_eq!(status, 409, "once ended, not again: {body}");
    assert_eq!(
        metric(
            &server.metrics(),
            "qonyrau_callbacks_total{queue=\"support\",outcome=\"cancelled\"}"
        ),
        Some(1.0)
    );
}
