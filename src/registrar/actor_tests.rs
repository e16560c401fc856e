//! The registrar task as a driver, over a real database (SQLite, and PostgreSQL when the
//! suite provides one), with the wall clock that decides expiry under the test's hand
//! (`ManualClock`; tokio's paused time cannot be used here: sqlx's pool time-outs would
//! fire while SQLite works on a blocking thread): a registration is found until its
//! expiry and not a second after; the 200's `expires` counts down with the clock; a
//! REGISTER with `Expires: 0` removes it at once.
#![allow(clippy::disallowed_methods)]

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::clock::ManualClock;
use crate::db::testing::databases;
use crate::registrar::core::RegistrarPolicy;
use crate::sip::digest::{authorization, Algorithm, Challenge};
use crate::sip::registrar::ExpiryPolicy;
use crate::staff::lockout::LockoutPolicy;
use crate::staff::{store as staff, Language, Role};

const REALM: &str = "qonyrau";

fn register(cseq: u32, expires: u32, auth: Option<&str>) -> Message {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let text = format!("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:25090;branch=z9hG4bKa{cseq}\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: reg-expiry\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:2001@127.0.0.1:25090>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n");
    Message::parse(text.as_bytes()).unwrap()
}

struct Harness {
    jobs: mpsc::Sender<RegisterJob>,
    answers: mpsc::Receiver<EndpointCommand>,
    location: Location,
    clock: Arc<ManualClock>,
    cseq: u32,
}

impl Harness {
    /// REGISTER with `expires`, answering the challenge with the account's password.
    async fn register(&mut self, expires: u32) -> Message {
        self.cseq += 1;
        let challenge = self.send(register(self.cseq, expires, None)).await;
        assert_eq!(challenge.status(), Some(401));
        let ch = Challenge::parse(challenge.header("www-authenticate").unwrap()).unwrap();
        let auth = authorization(
            &ch,
            "2001",
            "sip-secret-1",
            "REGISTER",
            "sip:127.0.0.1",
            "cn",
            1,
        );
        self.cseq += 1;
        self.send(register(self.cseq, expires, Some(&auth))).await
    }

    async fn send(&mut self, request: Message) -> Message {
        let key = TxKey::of_request(&request, "REGISTER").unwrap();
        let reach = Reach::Udp("127.0.0.1:25090".parse().unwrap());
        self.jobs
            .send(RegisterJob {
                key,
                request,
                reach,
            })
            .await
            .unwrap();
        match self.answers.recv().await {
            Some(EndpointCommand::RespondRequest { response, .. }) => response,
            other => panic!("{other:?}"),
        }
    }

    fn bound(&self) -> usize {
        self.location.lookup("2001", self.clock.now()).len()
    }
}

async fn start(db: Db) -> Harness {
    let at = Timestamp::from_second(1_800_000_000).unwrap();
    staff::add(
        &db,
        at,
        "op1",
        Role::Operator,
        Language::En,
        "Operator2026!",
    )
    .await
    .unwrap();
    store::set_account(&db, at, "cli", "op1", "2001", REALM, "sip-secret-1")
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(at));
    let location = Location::default();
    let (jobs, jobs_rx) = mpsc::channel(8);
    let (endpoint, answers) = mpsc::channel(8);
    let registrar = Registrar {
        db,
        core: RegistrarCore::new(
            now(),
            [7; 32],
            RegistrarPolicy {
                realm: REALM.into(),
                algorithms: vec![Algorithm::Md5],
                expiry: ExpiryPolicy::default(),
                lockout: LockoutPolicy::default(),
                nonce_lifetime: std::time::Duration::from_secs(300),
            },
        ),
        location: location.clone(),
        clock: clock.clone(),
        endpoint,
        retry_after: 5,
    };
    tokio::spawn(registrar.run(jobs_rx));
    Harness {
        jobs,
        answers,
        location,
        clock,
        cseq: 0,
    }
}

#[tokio::test]
async fn a_registration_is_rung_until_it_expires_and_not_a_second_after() {
    for (db, _dir) in databases().await {
        let mut h = start(db).await;
        let ok = h.register(600).await;
        assert_eq!(ok.status(), Some(200));
        assert_eq!(
            ok.header("contact"),
            Some("<sip:2001@127.0.0.1:25090>;expires=600")
        );
        assert_eq!(h.bound(), 1);
        h.clock.advance(SignedDuration::from_secs(599));
        assert_eq!(h.bound(), 1, "found until its expiry");
        // A refresh at 599 s: the 200 lists the new expiry; the old one is gone.
        let again = h.register(600).await;
        assert_eq!(
            again.header("contact"),
            Some("<sip:2001@127.0.0.1:25090>;expires=600")
        );
        h.clock.advance(SignedDuration::from_secs(600));
        assert_eq!(h.bound(), 0, "not rung a second after the refreshed expiry");
    }
}

#[tokio::test]
async fn expires_zero_removes_the_registration_at_once() {
    for (db, _dir) in databases().await {
        let mut h = start(db).await;
        assert_eq!(h.register(600).await.status(), Some(200));
        assert_eq!(h.bound(), 1);
        let gone = h.register(0).await;
        assert_eq!(gone.status(), Some(200));
        assert_eq!(gone.header("contact"), None, "no binding left to list");
        assert_eq!(h.bound(), 0);
    }
}
