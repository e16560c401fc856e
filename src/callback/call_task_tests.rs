//! The callback call's task against a real endpoint, transport and media engine on
//! loopback: a UDP socket stands for the agent's registered phone (a binding put straight
//! into the location cache), another for the carrier behind the trunk. Real time: the
//! prompts the agent hears take their few seconds.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::task::TaskTracker;

use super::*;
use crate::call::driver::CallLinks;
use crate::call::presence::Presence;
use crate::callback::book::AttemptOutcome;
use crate::callback::call::CallbackCallSetup;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::endpoint::{Endpoint, EndpointParams};
use crate::http::Health;
use crate::sip::message::{Message, Method};
use crate::sip::registrar::{Binding, Reach};

const CUSTOMER: &str = "+77011234567";
/// The customer's number as the trunk (`dial_format = "national"`) wants it.
const CUSTOMER_NATIONAL: &str = "87011234567";
const AGENT: &str = "2001";

/// A fake phone (the agent's) or carrier: answers by hand what the server sends.
struct Peer {
    sock: UdpSocket,
    /// An RTP port for our SDP (nothing reads it).
    rtp: UdpSocket,
}

impl Peer {
    async fn new() -> Peer {
        Peer {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// The next message within `within`, and where it came from.
    async fn recv(&self, within: Duration) -> (Message, SocketAddr) {
        let mut buf = vec![0u8; 65536];
        let (n, from) = tokio::time::timeout(within, self.sock.recv_from(&mut buf))
            .await
            .expect("a message in time")
            .unwrap();
        (Message::parse(&buf[..n]).expect("SIP"), from)
    }

    /// The next request of `method`, skipping responses and other requests (ACKs, CANCELs…).
    async fn expect(&self, method: Method, within: Duration) -> (Message, SocketAddr) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (m, from) = self.recv(left).await;
            if m.method() == Some(&method) {
                return (m, from);
            }
        }
    }

    async fn respond(&self, req: &Message, to: SocketAddr, status: u16, sdp: bool) {
        let mut resp = crate::sip::response::response_for(req, status, "peer");
        resp.push_header("contact", format!("<sip:peer@{}>", self.addr()));
        if sdp {
            let port = self.rtp.local_addr().unwrap().port();
            let body = format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
            );
            resp.push_header("content-type", "application/sdp");
            resp.body = bytes::Bytes::from(body);
        }
        self.sock.send_to(&resp.to_bytes(), to).await.unwrap();
    }

    /// A BYE in the dialog `ok` (our 200 to the server's INVITE) established.
    async fn bye(&self, invite: &Message, to: SocketAddr) {
        let from = invite.header("to").unwrap();
        let ours = invite.header("from").unwrap();
        let text = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKpeerbye;rport\r\nFrom: {from};tag=peer\r\nTo: {ours}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            invite.header("contact").map(|c| c.trim_matches(['<', '>'])).unwrap_or("sip:qonyrau@127.0.0.1"),
            self.addr(),
            invite.call_id().unwrap(),
        );
        self.sock.send_to(text.as_bytes(), to).await.unwrap();
    }
}

struct Harness {
    links: CallbackCallLinks,
    _stop: CancellationToken,
}

/// An endpoint and media engine on loopback, with a trunk to `carrier`.
async fn start(carrier: SocketAddr) -> Harness {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = 45000 + (std::process::id() % 40) as u16 * 20;
    let text = format!(
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\n[rtp]\ntimeout = \"0s\"\nport_min = {base}\nport_max = {}\n\
         [ivr]\nflows_dir = \"{}\"\nsounds_dir = \"{}\"\nlanguage = \"ru\"\n\
         [trunks.carrier]\nproxy = \"sip:{carrier}\"\ncaller_id = \"+77172000000\"\ndial_format = \"national\"\n",
        base + 19,
        repo.join("ivr-flows").display(),
        repo.join("sounds").display()
    );
    let config = Config::parse(Path::new("callback.toml"), &text).expect("config");
    let prepared = crate::preflight::prepare(&config).expect("bundled flows and prompts");
    let bound =
        crate::transport::bind(&config.sip.udp, &config.sip.tcp, config.sip.udp_recv_buffer)
            .await
            .expect("bind");
    let media = MediaEngine::start(&config, Arc::clone(&prepared.prompts)).expect("media");
    let (inbound_tx, inbound_rx) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    let transports = crate::transport::serve(bound, inbound_tx, stop.clone());
    let location = Location::default();
    let bus = EventBus::new(1024);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let trunk = Arc::new(config.trunks[0].clone());
    let call_links = CallLinks {
        acd: None,
        acd_paid: false,
        bus: bus.clone(),
        location: location.clone(),
        presence: Presence::default(),
        media: media.clone(),
        clock: Arc::clone(&clock),
        trunks: Arc::from([]),
        callbacks: None,
    };
    let endpoint = Endpoint::new(EndpointParams {
        config,
        flows: prepared.flows,
        prompts: Arc::clone(&prepared.prompts),
        media: media.clone(),
        transports,
        health: Arc::new(Health::default()),
        calls_stop: CancellationToken::new(),
        tracker: TaskTracker::new(),
        registrar: None,
        links: call_links,
    });
    let links = CallbackCallLinks {
        endpoint: endpoint.commands(),
        media,
        prompts: prepared.prompts,
        language: "ru".into(),
        location,
        bus,
        clock,
        trunk,
        queue: Arc::from("support"),
        stop: stop.clone(),
        presence: crate::call::presence::Presence::default(),
    };
    tokio::spawn(endpoint.run(inbound_rx, stop.clone()));
    Harness { links, _stop: stop }
}

/// Put the agent's phone at `contact` into the location cache, as a REGISTER would.
fn register(location: &Location, contact: SocketAddr) {
    let expires_at = SystemClock.now() + jiff::SignedDuration::from_secs(3600);
    location.set(
        AGENT,
        vec![Binding {
            contact: format!("sip:{AGENT}@{contact}"),
            expires_at,
            call_id: "reg-1".into(),
            cseq: 1,
            reach: Reach::Udp(contact),
            user_agent: None,
        }],
    );
}

/// Run a callback call for `AGENT` and `CUSTOMER`; its outcomes come on the receiver.
fn spawn(links: &CallbackCallLinks) -> mpsc::UnboundedReceiver<CallbackCallOutcome> {
    let mut setup = CallbackCallSetup::new(CallbackId(7), Arc::from(AGENT), CUSTOMER.into());
    setup.agent_ring_timeout = Duration::from_secs(5);
    setup.customer_ring_timeout = Duration::from_secs(5);
    let (outcomes, rx) = mpsc::unbounded_channel();
    let task = CallbackCallTask {
        call: CallbackCall::new(now(), setup),
        links: links.clone(),
        outcomes,
    };
    tokio::spawn(task.run());
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<CallbackCallOutcome>) -> CallbackCallOutcome {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an outcome in time")
        .expect("the task reports before it ends")
}

fn report(r: CallbackReport) -> CallbackCallOutcome {
    CallbackCallOutcome::Report(CallbackId(7), r)
}

fn finished(end: CallbackEnd) -> CallbackCallOutcome {
    CallbackCallOutcome::Finished(CallbackId(7), end)
}

#[tokio::test]
async fn an_agent_with_no_registered_phone_is_missed_at_once() {
    let carrier = Peer::new().await;
    let h = start(carrier.addr()).await;
    let mut events = h.links.bus.subscribe("test");
    let mut rx = spawn(&h.links);
    assert_eq!(next(&mut rx).await, report(CallbackReport::AgentMissed));
    assert_eq!(next(&mut rx).await, finished(CallbackEnd::AgentMissed));
    let mut facts = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        facts.push(ev.fact.clone());
    }
    assert!(
        facts.iter().any(|f| matches!(
            f,
            CallFact::LegFailed { leg, outcome, .. } if *leg == AGENT_LEG && outcome == "unavailable"
        )),
        "the agent's leg failed as unreachable: {facts:?}"
    );
    assert!(
        matches!(facts.last(), Some(CallFact::Ended { .. })),
        "{facts:?}"
    );
}

/// The agent answers, hears who is called; the carrier gets the national number, says
/// busy; the attempt is reported, the agent hears "not reached" and is hung up.
#[tokio::test]
async fn the_agent_answers_then_the_customer_is_dialled_through_the_trunk() {
    let (agent, carrier) = (Peer::new().await, Peer::new().await);
    let h = start(carrier.addr()).await;
    register(&h.links.location, agent.addr());
    let mut rx = spawn(&h.links);

    let (invite, server) = agent.expect(Method::Invite, Duration::from_secs(5)).await;
    let from = invite.header("from").unwrap();
    assert!(
        from.contains("\"callback +77011234567 support\""),
        "the agent's display says who and which queue: {from}"
    );
    assert!(invite.body_text().unwrap_or("").contains("m=audio"));
    agent.respond(&invite, server, 180, false).await;
    agent.respond(&invite, server, 200, true).await;
    let (ack, _) = agent.expect(Method::Ack, Duration::from_secs(5)).await;
    assert_eq!(ack.call_id(), invite.call_id());

    // After the introduction (a few seconds of prompt) the customer is dialled.
    let (dial, trunk_side) = carrier
        .expect(Method::Invite, Duration::from_secs(15))
        .await;
    assert_eq!(next(&mut rx).await, report(CallbackReport::Placing));
    let uri = dial.request_uri().unwrap();
    assert!(
        uri.starts_with(&format!("sip:{CUSTOMER_NATIONAL}@")),
        "the number as the trunk writes it: {uri}"
    );
    assert!(
        dial.header("from").unwrap().contains("+77172000000"),
        "the trunk's caller ID is presented"
    );
    carrier.respond(&dial, trunk_side, 486, false).await;
    assert_eq!(
        next(&mut rx).await,
        report(CallbackReport::Attempt(AttemptOutcome {
            status: Some(486),
            answered: false
        }))
    );

    // The agent hears the customer was not reached, then our BYE.
    let (bye, server) = agent.expect(Method::Bye, Duration::from_secs(15)).await;
    assert_eq!(bye.call_id(), invite.call_id());
    agent.respond(&bye, server, 200, false).await;
    assert_eq!(
        next(&mut rx).await,
        finished(CallbackEnd::CustomerNotReached)
    );
}

/// The customer answers (an attempt that reached them) and hangs up while hearing the
/// reason: the agent's leg is hung up.
#[tokio::test]
async fn the_customer_answers_and_hanging_up_ends_the_agents_leg() {
    let (agent, carrier) = (Peer::new().await, Peer::new().await);
    let h = start(carrier.addr()).await;
    register(&h.links.location, agent.addr());
    let mut rx = spawn(&h.links);

    let (invite, server) = agent.expect(Method::Invite, Duration::from_secs(5)).await;
    assert!(
        h.links.presence.is_busy(AGENT),
        "the agent is busy for other calls from the first ring"
    );
    agent.respond(&invite, server, 200, true).await;
    let (dial, trunk_side) = carrier
        .expect(Method::Invite, Duration::from_secs(15))
        .await;
    assert_eq!(next(&mut rx).await, report(CallbackReport::Placing));
    carrier.respond(&dial, trunk_side, 200, true).await;
    carrier.expect(Method::Ack, Duration::from_secs(5)).await;
    assert_eq!(
        next(&mut rx).await,
        report(CallbackReport::Attempt(AttemptOutcome {
            status: Some(200),
            answered: true
        }))
    );
    carrier.bye(&dial, trunk_side).await;
    let (bye, server) = agent.expect(Method::Bye, Duration::from_secs(5)).await;
    agent.respond(&bye, server, 200, false).await;
    assert_eq!(next(&mut rx).await, finished(CallbackEnd::CustomerHungUp));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!h.links.presence.is_busy(AGENT), "free again once it ended");
}
