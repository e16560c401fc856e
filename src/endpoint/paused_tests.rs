//! The endpoint driver in paused time (tokio `test-util`): a real endpoint, transport and
//! media engine on loopback, a peer socket standing for the caller, and the clock advanced
//! by tokio whenever everything waits. Timers that take half a minute on the wire — 2xx
//! retransmission (RFC 3261 §13.3.1.4), the ACK time-out, a session timer's expiry and its
//! refresh (RFC 4028 §10) — are checked to the millisecond in no wall time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::*;
use crate::call::presence::Presence;
use crate::clock::SystemClock;
use crate::registrar::Location;

/// An endpoint serving SIP on a free loopback port with the bundled flows.
async fn start_endpoint() -> (SocketAddr, CancellationToken) {
    let (sip, cancel, _) = start_endpoint_commands().await;
    (sip, cancel)
}

/// [`start_endpoint`], with the endpoint's command sender (what call tasks use).
async fn start_endpoint_commands() -> (SocketAddr, CancellationToken, mpsc::Sender<EndpointCommand>)
{
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = 41000 + (std::process::id() % 40) as u16 * 20;
    let text = format!(
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\n[rtp]\ntimeout = \"0s\"\nport_min = {base}\nport_max = {}\n[ivr]\nflows_dir = \"{}\"\nsounds_dir = \"{}\"\n",
        base + 19,
        repo.join("ivr-flows").display(),
        repo.join("sounds").display()
    );
    let config = Config::parse(Path::new("paused.toml"), &text).expect("config");
    let prepared = crate::preflight::prepare(&config).expect("bundled flows and prompts");
    let bound =
        crate::transport::bind(&config.sip.udp, &config.sip.tcp, config.sip.udp_recv_buffer)
            .await
            .expect("bind");
    let sip = bound.addresses().0[0];
    let media = MediaEngine::start(&config, Arc::clone(&prepared.prompts)).expect("media");
    let (inbound_tx, inbound_rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let transports = crate::transport::serve(bound, inbound_tx, cancel.clone());
    let links = CallLinks {
        acd: None,
        acd_paid: false,
        bus: crate::call::events::EventBus::new(1024),
        location: Location::default(),
        presence: Presence::default(),
        media: media.clone(),
        clock: Arc::new(SystemClock),
        trunks: Arc::from([]),
        callbacks: None,
    };
    let endpoint = Endpoint::new(EndpointParams {
        config,
        flows: prepared.flows,
        prompts: prepared.prompts,
        media,
        transports,
        health: Arc::new(Health::default()),
        calls_stop: CancellationToken::new(),
        tracker: TaskTracker::new(),
        registrar: None,
        links,
    });
    let commands = endpoint.commands();
    tokio::spawn(endpoint.run(inbound_rx, cancel.clone()));
    (sip, cancel, commands)
}

struct Peer {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Peer {
    async fn new(server: SocketAddr) -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Peer { sock, server }
    }

    async fn send(&self, text: &str) {
        let text = text.replace("PEER", &self.sock.local_addr().unwrap().to_string());
        self.sock
            .send_to(text.replace('\n', "\r\n").as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// The next message within `within` (virtual time), and when it came.
    async fn recv(&self, within: Duration) -> Option<(Instant, Message)> {
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(within, self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some((Instant::now(), Message::parse(&buf[..n]).expect("SIP")))
    }

    /// Skip provisional responses; the next final response or request.
    async fn next(&self, within: Duration) -> Option<(Instant, Message)> {
        loop {
            let (at, m) = self.recv(within).await?;
            if m.status().is_some_and(|s| s < 200) {
                continue;
            }
            return Some((at, m));
        }
    }
}

const SDP: &str =
    "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 9 RTP/AVP 0\n";

fn invite(extra: &str) -> String {
    let body = SDP.replace('\n', "\r\n");
    format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP PEER;branch=z9hG4bKp1;rport\nFrom: <sip:caller@127.0.0.1>;tag=peer\nTo: <sip:100@127.0.0.1>\nCall-ID: paused-1\nCSeq: 1 INVITE\nContact: <sip:caller@PEER>\nMax-Forwards: 70\n{extra}Content-Type: application/sdp\nContent-Length: {}\n\n{}",
        body.len(),
        SDP
    )
}

fn in_dialog(method: &str, cseq: u32, to_tag: &str, extra: &str) -> String {
    format!(
        "{method} sip:qonyrau@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP PEER;branch=z9hG4bKp{cseq}{method};rport\nFrom: <sip:caller@127.0.0.1>;tag=peer\nTo: <sip:100@127.0.0.1>;tag={to_tag}\nCall-ID: paused-1\nCSeq: {cseq} {method}\nMax-Forwards: 70\n{extra}Content-Length: 0\n\n"
    )
}

fn to_tag(m: &Message) -> String {
    m.to().and_then(|t| t.tag().map(str::to_string)).unwrap()
}

fn ok_to(req: &Message) -> String {
    let mut resp = crate::sip::response::response_for(req, 200, "peer");
    resp.remove_header("content-length");
    String::from_utf8(resp.to_bytes().to_vec())
        .unwrap()
        .replace("\r\n", "\n")
}

fn assert_near(got: Duration, want: Duration, what: &str) {
    let diff = got.abs_diff(want);
    assert!(
        diff <= Duration::from_millis(20),
        "{what}: {got:?}, expected {want:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unacknowledged_2xx_is_resent_from_t1_doubling_to_t2_and_the_call_ends_at_64_t1() {
    let (server, _stop) = start_endpoint().await;
    let peer = Peer::new(server).await;
    peer.send(&invite("")).await;
    let (first, ok) = peer.next(Duration::from_secs(5)).await.expect("200");
    assert_eq!(ok.status(), Some(200));
    let mut at = vec![];
    let bye = loop {
        let (t, m) = peer.next(Duration::from_secs(40)).await.expect("more");
        if m.status() == Some(200) {
            at.push(t.duration_since(first));
            continue;
        }
        break (t, m);
    };
    let expected = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
    assert_eq!(at.len(), expected.len(), "retransmissions at {at:?}");
    for (got, want) in at.iter().zip(expected) {
        assert_near(*got, Duration::from_secs_f64(want), "a 2xx retransmission");
    }
    assert_eq!(bye.1.method(), Some(&Method::Bye), "then our BYE");
    assert_near(
        bye.0.duration_since(first),
        Duration::from_secs(32),
        "the BYE",
    );
    peer.send(&ok_to(&bye.1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_ack_stops_the_2xx_retransmission() {
    let (server, _stop) = start_endpoint().await;
    let peer = Peer::new(server).await;
    peer.send(&invite("")).await;
    let (_, ok) = peer.next(Duration::from_secs(5)).await.expect("200");
    peer.send(&in_dialog("ACK", 1, &to_tag(&ok), "")).await;
    // Anything that still comes in the next 40 s must not be our 200 again.
    let deadline = Instant::now() + Duration::from_secs(40);
    while let Some((_, m)) = peer
        .next(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        assert_ne!(m.status(), Some(200), "a 2xx after the ACK: {m:?}");
        if m.method() == Some(&Method::Bye) {
            peer.send(&ok_to(&m)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_session_nobody_refreshes_ends_with_our_bye_a_third_before_it_expires() {
    let (server, _stop) = start_endpoint().await;
    let peer = Peer::new(server).await;
    peer.send(&invite("Supported: timer\nSession-Expires: 120\n"))
        .await;
    let (answered, ok) = peer.next(Duration::from_secs(5)).await.expect("200");
    assert_eq!(ok.header("session-expires"), Some("120;refresher=uac"));
    peer.send(&in_dialog("ACK", 1, &to_tag(&ok), "")).await;
    let (at, bye) = peer.next(Duration::from_secs(200)).await.expect("BYE");
    assert_eq!(bye.method(), Some(&Method::Bye));
    // 120 − min(32, 40) = 88 s.
    assert_near(
        at.duration_since(answered),
        Duration::from_secs(88),
        "the BYE",
    );
    peer.send(&ok_to(&bye)).await;
}

#[tokio::test(start_paused = true)]
async fn an_update_refresh_restarts_the_session_interval() {
    let (server, _stop) = start_endpoint().await;
    let peer = Peer::new(server).await;
    peer.send(&invite("Supported: timer\nSession-Expires: 120\n"))
        .await;
    let (answered, ok) = peer.next(Duration::from_secs(5)).await.expect("200");
    let tag = to_tag(&ok);
    peer.send(&in_dialog("ACK", 1, &tag, "")).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let refresh = "Supported: timer\nSession-Expires: 120;refresher=uac\n";
    peer.send(&in_dialog("UPDATE", 2, &tag, refresh)).await;
    let (refreshed, resp) = peer.next(Duration::from_secs(5)).await.expect("200");
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.cseq(), Some((2, "UPDATE")));
    assert_eq!(resp.header("session-expires"), Some("120;refresher=uac"));
    let (at, bye) = peer.next(Duration::from_secs(200)).await.expect("BYE");
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_near(
        at.duration_since(refreshed),
        Duration::from_secs(88),
        "the BYE",
    );
    assert!(at.duration_since(answered) > Duration::from_secs(140));
    peer.send(&ok_to(&bye)).await;
}

/// A response from a peer to a request the endpoint sent, with our To tag, a Contact and
/// (for a 2xx) an SDP answer.
fn peer_response(req: &Message, status: u16, contact: SocketAddr) -> Vec<u8> {
    let mut resp = crate::sip::response::response_for(req, status, "peer");
    resp.push_header("contact", format!("<sip:peer@{contact}>"));
    if (200..300).contains(&status) {
        resp.push_header("content-type", "application/sdp");
        resp.body = bytes::Bytes::from(SDP.replace('\n', "\r\n"));
    }
    resp.to_bytes().to_vec()
}

/// The next request of `method` a peer gets (responses and other requests skipped).
async fn expect_request(peer: &Peer, method: Method) -> Message {
    loop {
        let (_, m) = peer.recv(Duration::from_secs(10)).await.expect("a request");
        if m.method() == Some(&method) {
            return m;
        }
    }
}

async fn expect_event(events: &mut mpsc::Receiver<CallEvent>) -> CallEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the channel stays open")
}

/// A headless call (a callback's: no inbound dialog) gets its legs' events, their phones'
/// re-INVITEs and ACKs like an inbound call's operator legs; closing it hangs up what is
/// answered and cancels what rings.
#[tokio::test(start_paused = true)]
async fn a_headless_calls_legs_report_to_it_and_closing_it_ends_them() {
    let (server, _stop, commands) = start_endpoint_commands().await;
    let (answering, ringing) = (Peer::new(server).await, Peer::new(server).await);
    let (events_tx, mut events) = mpsc::channel(64);
    let (reply, id) = tokio::sync::oneshot::channel();
    commands
        .send(EndpointCommand::OpenHeadless {
            events: events_tx,
            reply,
        })
        .await
        .unwrap();
    let call = id.await.expect("a call id");
    for (leg, peer) in [(LegId(1), &answering), (LegId(2), &ringing)] {
        let addr = peer.sock.local_addr().unwrap();
        let target = crate::call::dial::DialTarget {
            extension: "2001".into(),
            contact: format!("sip:2001@{addr}"),
            reach: crate::sip::registrar::Reach::Udp(addr),
            trunk: None,
        };
        commands
            .send(EndpointCommand::PlaceLeg {
                call,
                leg,
                target,
                sdp: SDP.replace('\n', "\r\n"),
                caller: "+77011234567".into(),
                queue: None,
                display: Some("callback +77011234567 support".into()),
            })
            .await
            .unwrap();
    }

    // The ringing phone: its 180 reaches the headless call.
    let invite2 = expect_request(&ringing, Method::Invite).await;
    let ringing_addr = ringing.sock.local_addr().unwrap();
    ringing
        .sock
        .send_to(&peer_response(&invite2, 180, ringing_addr), server)
        .await
        .unwrap();
    match expect_event(&mut events).await {
        CallEvent::Operator { leg, event } => {
            assert_eq!(leg, LegId(2));
            assert!(matches!(
                *event,
                crate::sip::uac::OutboundEvent::Ringing { .. }
            ));
        }
        other => panic!("expected leg 2 ringing, got {other:?}"),
    }

    // The answering phone: 200 with SDP, our ACK.
    let invite1 = expect_request(&answering, Method::Invite).await;
    assert!(invite1
        .header("from")
        .unwrap()
        .starts_with("\"callback +77011234567 support\" <sip:+77011234567@"));
    let answering_addr = answering.sock.local_addr().unwrap();
    answering
        .sock
        .send_to(&peer_response(&invite1, 200, answering_addr), server)
        .await
        .unwrap();
    match expect_event(&mut events).await {
        CallEvent::Operator { leg, event } => {
            assert_eq!(leg, LegId(1));
            assert!(matches!(
                *event,
                crate::sip::uac::OutboundEvent::Answered { sdp: Some(_) }
            ));
        }
        other => panic!("expected leg 1 answered, got {other:?}"),
    }
    expect_request(&answering, Method::Ack).await;

    // The answering phone puts us on hold: the re-INVITE is the headless call's to answer.
    let ours = invite1.header("from").unwrap().to_string();
    let hold = SDP.replace("RTP/AVP 0\n", "RTP/AVP 0\na=sendonly\n");
    let reinvite = format!(
        "INVITE {} SIP/2.0\nVia: SIP/2.0/UDP PEER;branch=z9hG4bKhold;rport\nFrom: {};tag=peer\nTo: {ours}\nCall-ID: {}\nCSeq: 2 INVITE\nContact: <sip:peer@PEER>\nMax-Forwards: 70\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        invite1.header("contact").unwrap().trim_matches(['<', '>']),
        invite1.header("to").unwrap(),
        invite1.call_id().unwrap(),
        hold.replace('\n', "\r\n").len(),
        hold
    );
    answering.send(&reinvite).await;
    match expect_event(&mut events).await {
        CallEvent::OperatorReinvite { leg, body } => {
            assert_eq!(leg, LegId(1));
            assert!(body.unwrap_or_default().contains("a=sendonly"));
        }
        other => panic!("expected the re-INVITE, got {other:?}"),
    }
    commands
        .send(EndpointCommand::RespondOperatorReinvite {
            call,
            leg: LegId(1),
            status: 200,
            sdp: Some(SDP.replace('\n', "\r\n")),
        })
        .await
        .unwrap();
    let (_, ok) = answering.next(Duration::from_secs(5)).await.expect("200");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.cseq(), Some((2, "INVITE")));
    let ack = format!(
        "ACK {} SIP/2.0\nVia: SIP/2.0/UDP PEER;branch=z9hG4bKholdack;rport\nFrom: {};tag=peer\nTo: {ours}\nCall-ID: {}\nCSeq: 2 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n",
        invite1.header("contact").unwrap().trim_matches(['<', '>']),
        invite1.header("to").unwrap(),
        invite1.call_id().unwrap(),
    );
    answering.send(&ack).await;
    match expect_event(&mut events).await {
        CallEvent::OperatorAck { leg, .. } => assert_eq!(leg, LegId(1)),
        other => panic!("expected the ACK, got {other:?}"),
    }

    // Closing the call: BYE to the answered phone, CANCEL to the ringing one.
    commands
        .send(EndpointCommand::CloseHeadless { call })
        .await
        .unwrap();
    let bye = expect_request(&answering, Method::Bye).await;
    assert_eq!(bye.call_id(), invite1.call_id());
    let cancel = expect_request(&ringing, Method::Cancel).await;
    assert_eq!(cancel.call_id(), invite2.call_id());
    drop(commands);
}
