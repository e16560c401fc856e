//! Who may register, sans-IO: digest authentication of REGISTER (RFC 3261 §22, RFC 7616,
//! RFC 8760), the SIP lockout (five wrong digest answers in a row lock the extension for
//! ten minutes — a counter of its own, apart from the web login's), a per-source throttle,
//! and the response to send. Bindings follow `crate::sip::registrar`'s rules.
//!
//! Inputs: the REGISTER, where it came from, the extension's account (loaded by the
//! driver; its lock is updated in place and saved by the driver) and current bindings,
//! the time (monotonic for nonces, UTC for locks and expiry). Output: a [`RegisterOutcome`]
//! naming the response and what to store. No database, socket or clock here.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::sip::digest::{
    self, Algorithm, Challenge, Credentials, DigestError, DigestVerified, NonceIssuer,
};
use crate::sip::message::Message;
use crate::sip::registrar::{contact_values, Binding, ExpiryPolicy, Reach, RegisterRequest};
use crate::sip::response::response_for;
use crate::staff::lockout::{Access, LockoutPolicy, LoginLock, SourceThrottle};

/// An extension's SIP credentials: digest HA1 values only, never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipAccount {
    pub extension: String,
    pub login: String,
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    /// The SIP lock (failures in a row, locked until), persisted with the account.
    pub lock: LoginLock,
}

impl SipAccount {
    fn ha1(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RegistrarPolicy {
    pub realm: String,
    /// Offered in this order (RFC 8760 §2.4: the preferred first).
    pub algorithms: Vec<Algorithm>,
    pub expiry: ExpiryPolicy,
    pub lockout: LockoutPolicy,
    pub nonce_lifetime: Duration,
}

/// What happened to the extension's lock, for the driver to save and audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockChange {
    None,
    /// Failures counted or reset; save the new state.
    Save,
    /// This failure locked the extension until then; save and audit.
    Locked(Timestamp),
}

/// Why a REGISTER was refused, for logs and the `qonyrau_sip_auth_failures_total{reason}`
/// metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Throttled,
    UnknownExtension,
    WrongUser,
    Locked,
    WrongPassword,
    Bindings,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Throttled => "throttled",
            Refusal::UnknownExtension => "unknown_extension",
            Refusal::WrongUser => "wrong_user",
            Refusal::Locked => "locked",
            Refusal::WrongPassword => "wrong_password",
            Refusal::Bindings => "bindings",
        }
    }
}

#[derive(Debug)]
pub struct RegisterOutcome {
    pub response: Message,
    /// Store these as the extension's complete set of bindings.
    pub store: Option<(String, Vec<Binding>)>,
    pub lock: LockChange,
    pub refused: Option<Refusal>,
}

pub struct RegistrarCore {
    policy: RegistrarPolicy,
    nonces: NonceIssuer,
    throttle: SourceThrottle,
}

impl RegistrarCore {
    pub fn new(now: Instant, secret: [u8; 32], policy: RegistrarPolicy) -> RegistrarCore {
        RegistrarCore {
            nonces: NonceIssuer::new(now, secret, policy.nonce_lifetime),
            throttle: SourceThrottle::new(policy.lockout),
            policy,
        }
    }

    pub fn policy(&self) -> &RegistrarPolicy {
        &self.policy
    }

    /// Decide a REGISTER. `account` is the To user's account, if there is one; its lock is
    /// updated here. `current` are the extension's bindings.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_register(
        &mut self,
        now: Instant,
        utc: Timestamp,
        req: &Message,
        reach: Reach,
        account: Option<&mut SipAccount>,
        current: &[Binding],
        to_tag: &str,
    ) -> RegisterOutcome {
        let parsed = match RegisterRequest::parse(req) {
            Ok(p) => p,
            Err(e) => return self.refuse(req, e.status(), to_tag, Refusal::Malformed),
        };
        let lock = match self.authenticate(now, utc, req, reach, &parsed.extension, account, to_tag)
        {
            Ok((_proof, lock)) => lock,
            Err(out) => return *out,
        };
        match parsed.apply(current, utc, reach, &self.policy.expiry) {
            Ok(bindings) => {
                let mut response = response_for(req, 200, to_tag);
                for v in contact_values(&bindings, utc) {
                    response.push_header("contact", v);
                }
                RegisterOutcome {
                    response,
                    store: Some((parsed.extension, bindings)),
                    lock,
                    refused: None,
                }
            }
            Err(e) => {
                let mut out = self.refuse(req, e.status(), to_tag, Refusal::Bindings);
                if e.status() == 423 {
                    out.response
                        .push_header("min-expires", self.policy.expiry.min.to_string());
                }
                out.lock = lock;
                out
            }
        }
    }

    /// An INVITE from a registered softphone to another extension: the caller must prove
    /// it is the extension in its From header, exactly as REGISTER does (same nonces, same
    /// lockout, same throttle). `Ok` carries the caller's extension; `Err` the response
    /// (401 challenge or 403) and what to save.
    #[allow(clippy::too_many_arguments)]
    pub fn authenticate_invite(
        &mut self,
        now: Instant,
        utc: Timestamp,
        req: &Message,
        reach: Reach,
        account: Option<&mut SipAccount>,
        to_tag: &str,
    ) -> Result<(String, LockChange), Box<RegisterOutcome>> {
        let caller = req.from_user().unwrap_or_default();
        let (_proof, lock) = self.authenticate(now, utc, req, reach, &caller, account, to_tag)?;
        Ok((caller, lock))
    }

    /// Digest authentication of `req` as `user` (RFC 7616): challenge when there are no
    /// credentials or the nonce is stale, refuse (403) a throttled source, a locked or
    /// unknown extension, another user's credentials and a wrong answer (counted).
    #[allow(clippy::too_many_arguments)]
    fn authenticate(
        &mut self,
        now: Instant,
        utc: Timestamp,
        req: &Message,
        reach: Reach,
        user: &str,
        account: Option<&mut SipAccount>,
        to_tag: &str,
    ) -> Result<(DigestVerified, LockChange), Box<RegisterOutcome>> {
        let source = reach.source().ip();
        if let Access::Throttled { until } = self.throttle.check(utc, source) {
            let mut out = self.refuse(req, 403, to_tag, Refusal::Throttled);
            let secs = (until.as_second() - utc.as_second()).max(1);
            out.response.push_header("retry-after", secs.to_string());
            return Err(Box::new(out));
        }
        let Some(auth) = req.header("authorization") else {
            return Err(Box::new(self.challenge(now, req, to_tag, false)));
        };
        let creds = match Credentials::parse(auth) {
            Ok(c) => c,
            // A scheme we do not know is no credentials at all (RFC 4475 regaut01): challenge.
            Err(DigestError::NotDigest { .. }) => {
                return Err(Box::new(self.challenge(now, req, to_tag, false)))
            }
            Err(_) => return Err(Box::new(self.refuse(req, 400, to_tag, Refusal::Malformed))),
        };
        if creds.username != user {
            // Third-party registration is not offered: an operator registers their own line.
            self.throttle.fail(utc, source);
            return Err(Box::new(self.refuse(req, 403, to_tag, Refusal::WrongUser)));
        }
        let Some(account) = account else {
            // The same answer as a wrong password: a scanner learns nothing.
            self.throttle.fail(utc, source);
            return Err(Box::new(self.refuse(
                req,
                403,
                to_tag,
                Refusal::UnknownExtension,
            )));
        };
        let was = account.lock;
        if let Access::Locked { .. } = account.lock.check(utc) {
            return Err(Box::new(self.refuse(req, 403, to_tag, Refusal::Locked)));
        }
        let method = req
            .method()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let verified = digest::verify(
            &mut self.nonces,
            now,
            &method,
            &creds,
            &self.policy.realm,
            account.ha1(creds.algorithm),
            &self.policy.algorithms,
        );
        match verified {
            Ok(proof) => {
                account.lock = LoginLock::default();
                Ok((proof, lock_change(was, account.lock)))
            }
            Err(DigestError::WrongResponse) => {
                self.throttle.fail(utc, source);
                let locked = account.lock.fail(utc, &self.policy.lockout);
                let mut out = self.refuse(req, 403, to_tag, Refusal::WrongPassword);
                out.lock = match locked {
                    Some(until) => LockChange::Locked(until),
                    None => LockChange::Save,
                };
                Err(Box::new(out))
            }
            Err(e) => {
                // Stale, replayed or foreign nonce, another realm or algorithm: a fresh
                // challenge (stale=true when only the nonce was old, RFC 7616 §3.3).
                tracing::debug!(error = %e, "digest not accepted; challenging again");
                let mut out = self.challenge(now, req, to_tag, e.is_stale());
                out.lock = lock_change(was, account.lock);
                Err(Box::new(out))
            }
        }
    }

    /// Forget sources whose failures have aged out (call now and then).
    pub fn prune(&mut self, utc: Timestamp) {
        self.throttle.prune(utc);
    }

    fn challenge(
        &mut self,
        now: Instant,
        req: &Message,
        to_tag: &str,
        stale: bool,
    ) -> RegisterOutcome {
        let mut response = response_for(req, 401, to_tag);
        let nonce = self.nonces.issue(now);
        for alg in &self.policy.algorithms {
            let ch = Challenge {
                realm: self.policy.realm.clone(),
                nonce: nonce.clone(),
                algorithm: *alg,
                opaque: None,
                stale,
            };
            response.push_header("www-authenticate", ch.header_value());
        }
        RegisterOutcome {
            response,
            store: None,
            lock: LockChange::None,
            refused: None,
        }
    }

    fn refuse(&self, req: &Message, status: u16, to_tag: &str, why: Refusal) -> RegisterOutcome {
        RegisterOutcome {
            response: response_for(req, status, to_tag),
            store: None,
            lock: LockChange::None,
            refused: Some(why),
        }
    }
}

fn lock_change(before: LoginLock, after: LoginLock) -> LockChange {
    if before == after {
        LockChange::None
    } else {
        LockChange::Save
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)]
    use super::*;
    use crate::sip::digest::{authorization, ha1};

    const REALM: &str = "qonyrau";

    fn policy() -> RegistrarPolicy {
        RegistrarPolicy {
            realm: REALM.into(),
            algorithms: vec![Algorithm::Md5],
            expiry: ExpiryPolicy::default(),
            lockout: LockoutPolicy::default(),
            nonce_lifetime: Duration::from_secs(300),
        }
    }

    fn account(password: &str) -> SipAccount {
        SipAccount {
            extension: "2001".into(),
            login: "op1".into(),
            realm: REALM.into(),
            ha1_md5: ha1(Algorithm::Md5, "2001", REALM, password),
            ha1_sha256: ha1(Algorithm::Sha256, "2001", REALM, password),
            lock: LoginLock::default(),
        }
    }

    fn utc(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn reach() -> Reach {
        Reach::Udp("127.0.0.1:25090".parse().unwrap())
    }

    fn register(cseq: u32, auth: Option<String>) -> Message {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let text = format!("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:25090;branch=z9hG4bK{cseq}\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: reg1\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:2001@127.0.0.1:25090>\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n");
        Message::parse(text.as_bytes()).unwrap()
    }

    /// A REGISTER without credentials, and the Authorization value answering its challenge
    /// with `password`.
    fn challenge_answer(
        core: &mut RegistrarCore,
        now: Instant,
        acct: &mut SipAccount,
        password: &str,
    ) -> String {
        let ch = core.handle_register(
            now,
            utc(0),
            &register(1, None),
            reach(),
            Some(acct),
            &[],
            "t",
        );
        assert_eq!(ch.response.status(), Some(401));
        let challenge = Challenge::parse(ch.response.header("www-authenticate").unwrap()).unwrap();
        authorization(
            &challenge,
            "2001",
            password,
            "REGISTER",
            "sip:127.0.0.1",
            "cn",
            1,
        )
    }

    /// Challenge, then answer it with `password`.
    fn attempt(
        core: &mut RegistrarCore,
        now: Instant,
        at: Timestamp,
        acct: &mut SipAccount,
        cseq: u32,
        password: &str,
    ) -> RegisterOutcome {
        let ch = core.handle_register(
            now,
            at,
            &register(cseq, None),
            reach(),
            Some(acct),
            &[],
            "t",
        );
        assert_eq!(ch.response.status(), Some(401));
        let challenge = Challenge::parse(ch.response.header("www-authenticate").unwrap()).unwrap();
        let auth = authorization(
            &challenge,
            "2001",
            password,
            "REGISTER",
            "sip:127.0.0.1",
            "cn",
            1,
        );
        core.handle_register(
            now,
            at,
            &register(cseq + 1, Some(auth)),
            reach(),
            Some(acct),
            &[],
            "t",
        )
    }

    #[test]
    fn register_without_credentials_is_challenged_with_md5_and_qop_auth() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        let out = core.handle_register(
            t0,
            utc(0),
            &register(1, None),
            reach(),
            Some(&mut acct),
            &[],
            "t",
        );
        assert_eq!(out.response.status(), Some(401));
        let h = out.response.header("www-authenticate").unwrap();
        assert!(
            h.contains("algorithm=MD5") && h.contains("qop=\"auth\""),
            "{h}"
        );
        assert!(out.store.is_none());
    }

    #[test]
    fn the_right_password_binds_the_contact_and_lists_it_in_the_200() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        let out = attempt(&mut core, t0, utc(0), &mut acct, 1, "secret");
        assert_eq!(out.response.status(), Some(200));
        assert_eq!(
            out.response.header("contact"),
            Some("<sip:2001@127.0.0.1:25090>;expires=600")
        );
        let (ext, b) = out.store.unwrap();
        assert_eq!(ext, "2001");
        assert_eq!(b[0].reach, reach());
    }

    #[test]
    fn five_wrong_answers_lock_the_extension_and_the_right_password_is_then_refused() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        for i in 0..4 {
            let out = attempt(&mut core, t0, utc(i), &mut acct, 10 * i as u32 + 1, "wrong");
            assert_eq!(out.response.status(), Some(403));
            assert_eq!(out.lock, LockChange::Save);
        }
        let out = attempt(&mut core, t0, utc(4), &mut acct, 41, "wrong");
        assert_eq!(out.lock, LockChange::Locked(utc(604)));
        let out = attempt(&mut core, t0, utc(5), &mut acct, 51, "secret");
        assert_eq!(out.response.status(), Some(403));
        assert_eq!(out.refused, Some(Refusal::Locked));
        assert!(out.store.is_none());
        // Ten minutes after the lock the right password works again.
        let out = attempt(&mut core, t0, utc(604), &mut acct, 61, "secret");
        assert_eq!(out.response.status(), Some(200));
        assert_eq!(acct.lock, LoginLock::default());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        for i in 0..4 {
            attempt(&mut core, t0, utc(i), &mut acct, 10 * i as u32 + 1, "wrong");
        }
        let out = attempt(&mut core, t0, utc(5), &mut acct, 51, "secret");
        assert_eq!(out.lock, LockChange::Save);
        assert_eq!(acct.lock.failures, 0);
    }

    #[test]
    fn an_unknown_extension_gets_the_same_403_as_a_wrong_password() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let ch = core.handle_register(t0, utc(0), &register(1, None), reach(), None, &[], "t");
        assert_eq!(
            ch.response.status(),
            Some(401),
            "challenged like any extension"
        );
        let challenge = Challenge::parse(ch.response.header("www-authenticate").unwrap()).unwrap();
        let auth = authorization(
            &challenge,
            "2001",
            "x",
            "REGISTER",
            "sip:127.0.0.1",
            "cn",
            1,
        );
        let out = core.handle_register(
            t0,
            utc(0),
            &register(2, Some(auth)),
            reach(),
            None,
            &[],
            "t",
        );
        assert_eq!(out.response.status(), Some(403));
        assert_eq!(out.refused, Some(Refusal::UnknownExtension));
    }

    #[test]
    fn a_source_that_keeps_failing_is_throttled_before_trying_more_extensions() {
        let t0 = Instant::now();
        let mut p = policy();
        p.lockout.source_failures = 3;
        let mut core = RegistrarCore::new(t0, [7; 32], p);
        let mut acct = account("secret");
        for i in 0..3 {
            let mut other = account("secret");
            other.extension = format!("30{i}");
            attempt(
                &mut core,
                t0,
                utc(i),
                &mut other,
                10 * i as u32 + 1,
                "wrong",
            );
        }
        let out = core.handle_register(
            t0,
            utc(4),
            &register(99, None),
            reach(),
            Some(&mut acct),
            &[],
            "t",
        );
        assert_eq!(out.response.status(), Some(403));
        assert_eq!(out.refused, Some(Refusal::Throttled));
        assert!(out.response.header("retry-after").is_some());
        assert_eq!(
            acct.lock,
            LoginLock::default(),
            "the operator's account is not touched"
        );
    }

    #[test]
    fn a_stale_nonce_is_rechallenged_with_stale_true_and_not_counted() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        let auth = challenge_answer(&mut core, t0, &mut acct, "secret");
        let later = t0 + Duration::from_secs(301);
        let out = core.handle_register(
            later,
            utc(301),
            &register(2, Some(auth)),
            reach(),
            Some(&mut acct),
            &[],
            "t",
        );
        assert_eq!(out.response.status(), Some(401));
        assert!(out
            .response
            .header("www-authenticate")
            .unwrap()
            .contains("stale=true"));
        assert_eq!(acct.lock.failures, 0);
    }

    #[test]
    fn an_invite_to_an_extension_is_challenged_and_then_accepted_as_the_from_extension() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        let invite = |auth: Option<String>| {
            let auth = auth
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default();
            Message::parse(format!("INVITE sip:2002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:25090;branch=z9hG4bKi\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2002@127.0.0.1>\r\nCall-ID: i1\r\nCSeq: 1 INVITE\r\n{auth}Content-Length: 0\r\n\r\n").as_bytes()).unwrap()
        };
        let out = core
            .authenticate_invite(t0, utc(0), &invite(None), reach(), Some(&mut acct), "t")
            .unwrap_err();
        assert_eq!(out.response.status(), Some(401));
        let ch = Challenge::parse(out.response.header("www-authenticate").unwrap()).unwrap();
        let wrong = authorization(&ch, "2001", "nope", "INVITE", "sip:2002@127.0.0.1", "cn", 1);
        let out = core
            .authenticate_invite(
                t0,
                utc(1),
                &invite(Some(wrong)),
                reach(),
                Some(&mut acct),
                "t",
            )
            .unwrap_err();
        assert_eq!(out.refused, Some(Refusal::WrongPassword));
        assert_eq!(
            acct.lock.failures, 1,
            "a wrong INVITE answer counts like a REGISTER one"
        );
        let right = authorization(
            &ch,
            "2001",
            "secret",
            "INVITE",
            "sip:2002@127.0.0.1",
            "cn",
            2,
        );
        let (caller, lock) = core
            .authenticate_invite(
                t0,
                utc(2),
                &invite(Some(right)),
                reach(),
                Some(&mut acct),
                "t",
            )
            .unwrap();
        assert_eq!(caller, "2001");
        assert_eq!(lock, LockChange::Save, "the failure count is reset");
    }

    #[test]
    fn an_unknown_authorization_scheme_is_challenged_not_refused() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        let req = register(1, Some("NoOneKnowsThisScheme opaque-data=here".into()));
        let out = core.handle_register(t0, utc(0), &req, reach(), Some(&mut acct), &[], "t");
        assert_eq!(out.response.status(), Some(401));
        assert!(out.response.header("www-authenticate").is_some());
    }

    #[test]
    fn a_too_brief_expiry_after_authentication_gets_423_with_min_expires() {
        let t0 = Instant::now();
        let mut core = RegistrarCore::new(t0, [7; 32], policy());
        let mut acct = account("secret");
        let auth = challenge_answer(&mut core, t0, &mut acct, "secret");
        let text = String::from_utf8(register(2, Some(auth)).to_bytes().to_vec())
            .unwrap()
            .replace("Expires: 600", "Expires: 10");
        let req = Message::parse(text.as_bytes()).unwrap();
        let out = core.handle_register(t0, utc(0), &req, reach(), Some(&mut acct), &[], "t");
        assert_eq!(out.response.status(), Some(423));
        assert_eq!(out.response.header("min-expires"), Some("60"));
    }
}
