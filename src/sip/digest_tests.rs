//! Tests of `crate::sip::digest` (explicit time where time matters).
#![allow(clippy::disallowed_methods)]

use super::*;

const SECRET: [u8; 32] = [7; 32];
const LIFETIME: Duration = Duration::from_secs(300);
const REALM: &str = "qonyrau";
const BOTH: &[Algorithm] = &[Algorithm::Md5, Algorithm::Sha256];

// RFC 7616 §3.9.1
const USER: &str = "Mufasa";
const PASS: &str = "Circle of Life";
const RFC_REALM: &str = "http-auth@example.org";
const RFC_URI: &str = "/dir/index.html";
const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn issuer(t0: Instant) -> NonceIssuer {
    NonceIssuer::new(t0, SECRET, LIFETIME)
}

fn challenge(nonce: String, algorithm: Algorithm) -> Challenge {
    Challenge {
        realm: REALM.to_owned(),
        nonce,
        algorithm,
        opaque: None,
        stale: false,
    }
}

/// A client answer to `nonce` for REGISTER, parsed back as the server sees it.
fn answer(nonce: &str, password: &str, nc: u32) -> Credentials {
    let ch = challenge(nonce.to_owned(), Algorithm::Md5);
    let value = authorization(&ch, "1001", password, "REGISTER", "sip:qonyrau", "abc", nc);
    Credentials::parse(&value).expect("our own header parses")
}

fn stored() -> String {
    ha1(Algorithm::Md5, "1001", REALM, "s3cret")
}

fn check(
    iss: &mut NonceIssuer,
    now: Instant,
    creds: &Credentials,
) -> Result<DigestVerified, DigestError> {
    verify(iss, now, "REGISTER", creds, REALM, &stored(), BOTH)
}

#[test]
fn rfc7616_md5_example_gives_the_published_response() {
    let h = ha1(Algorithm::Md5, USER, RFC_REALM, PASS);
    assert_eq!(h, "3d78807defe7de2157e2b0b6573a855f");
    let r = expected_response(
        Algorithm::Md5,
        &h,
        RFC_NONCE,
        Some(1),
        Some(RFC_CNONCE),
        Some("auth"),
        "GET",
        RFC_URI,
    );
    assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc7616_sha256_example_gives_the_published_response() {
    let h = ha1(Algorithm::Sha256, USER, RFC_REALM, PASS);
    assert_eq!(
        h,
        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
    );
    let r = expected_response(
        Algorithm::Sha256,
        &h,
        RFC_NONCE,
        Some(1),
        Some(RFC_CNONCE),
        Some("auth"),
        "GET",
        RFC_URI,
    );
    assert_eq!(
        r,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc7616_example_header_parses_to_the_example_fields() {
    let value = authorization(
        &Challenge {
            realm: RFC_REALM.to_owned(),
            nonce: RFC_NONCE.to_owned(),
            algorithm: Algorithm::Sha256,
            opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".to_owned()),
            stale: false,
        },
        USER,
        PASS,
        "GET",
        RFC_URI,
        RFC_CNONCE,
        1,
    );
    let c = Credentials::parse(&value).unwrap();
    assert_eq!(
        c.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(c.nc, Some(1));
    assert_eq!(c.cnonce.as_deref(), Some(RFC_CNONCE));
    assert_eq!(c.algorithm, Algorithm::Sha256);
    assert!(value.contains("nc=00000001, qop=auth, opaque=\"FQhe"));
}

#[test]
fn client_authorization_parses_back_and_verifies_for_both_algorithms() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let ch = Challenge {
            opaque: Some("op".to_owned()),
            ..challenge(iss.issue(t0), alg)
        };
        let parsed = Challenge::parse(&ch.header_value()).unwrap();
        let value = authorization(&parsed, USER, PASS, "INVITE", "sip:q@x", "cn", 1);
        let creds = Credentials::parse(&value).unwrap();
        assert_eq!(creds.opaque.as_deref(), Some("op"));
        let stored = ha1(alg, USER, REALM, PASS);
        let now = t0 + Duration::from_secs(1);
        let ok = verify(&mut iss, now, "INVITE", &creds, REALM, &stored, BOTH).unwrap();
        assert_eq!(ok.username(), USER);
    }
}

#[test]
fn verify_accepts_right_password() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    let ok = check(&mut iss, t0, &answer(&nonce, "s3cret", 1)).unwrap();
    assert_eq!(ok.username(), "1001");
}

#[test]
fn verify_refuses_wrong_password_as_wrong_response() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    let err = check(&mut iss, t0, &answer(&nonce, "guess", 1)).unwrap_err();
    assert_eq!(err, DigestError::WrongResponse);
}

#[test]
fn wrong_response_does_not_use_up_the_nonce_count() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    assert!(check(&mut iss, t0, &answer(&nonce, "guess", 1)).is_err());
    assert!(check(&mut iss, t0, &answer(&nonce, "s3cret", 1)).is_ok());
}

#[test]
fn verify_refuses_credentials_for_another_realm() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let creds = answer(&iss.issue(t0), "s3cret", 1);
    let err = verify(&mut iss, t0, "REGISTER", &creds, "other", &stored(), BOTH);
    assert!(matches!(err, Err(DigestError::WrongRealm { .. })));
}

#[test]
fn verify_refuses_sha256_when_only_md5_allowed() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let ch = challenge(iss.issue(t0), Algorithm::Sha256);
    let value = authorization(&ch, "1001", "s3cret", "REGISTER", "sip:qonyrau", "c", 1);
    let creds = Credentials::parse(&value).unwrap();
    let stored = ha1(Algorithm::Sha256, "1001", REALM, "s3cret");
    let err = verify(
        &mut iss,
        t0,
        "REGISTER",
        &creds,
        REALM,
        &stored,
        &[Algorithm::Md5],
    );
    assert_eq!(
        err,
        Err(DigestError::UnsupportedAlgorithm {
            algorithm: Algorithm::Sha256
        })
    );
}

#[test]
fn verify_refuses_the_same_nc_twice_as_replayed() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let creds = answer(&iss.issue(t0), "s3cret", 1);
    assert!(check(&mut iss, t0, &creds).is_ok());
    let later = t0 + Duration::from_secs(5);
    assert_eq!(
        check(&mut iss, later, &creds),
        Err(DigestError::Replayed { nc: 1 })
    );
}

#[test]
fn verify_accepts_nc_2_after_1() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    assert!(check(&mut iss, t0, &answer(&nonce, "s3cret", 1)).is_ok());
    let later = t0 + Duration::from_secs(30);
    assert!(check(&mut iss, later, &answer(&nonce, "s3cret", 2)).is_ok());
    assert_eq!(
        check(&mut iss, later, &answer(&nonce, "s3cret", 1)),
        Err(DigestError::Replayed { nc: 1 })
    );
}

#[test]
fn verify_reports_stale_for_a_nonce_past_lifetime_with_right_response() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    let late = t0 + LIFETIME + Duration::from_secs(1);
    let err = check(&mut iss, late, &answer(&nonce, "s3cret", 1)).unwrap_err();
    assert!(err.is_stale());
}

#[test]
fn verify_reports_wrong_response_not_stale_for_an_old_nonce_with_wrong_password() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    let late = t0 + LIFETIME + Duration::from_secs(1);
    let err = check(&mut iss, late, &answer(&nonce, "guess", 1)).unwrap_err();
    assert_eq!(err, DigestError::WrongResponse);
}

#[test]
fn verify_refuses_a_tampered_nonce_as_bad_nonce() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    // Claim a later issue time to outlive the lifetime: the keyed hash no longer matches.
    let tampered = format!("{:016x}{}", 9_999u64, &nonce[16..]);
    let err = check(&mut iss, t0, &answer(&tampered, "s3cret", 1)).unwrap_err();
    assert_eq!(err, DigestError::BadNonce);
    let other = NonceIssuer::new(t0, [8; 32], LIFETIME).issue(t0);
    let err = check(&mut iss, t0, &answer(&other, "s3cret", 1)).unwrap_err();
    assert_eq!(err, DigestError::BadNonce);
}

#[test]
fn verify_refuses_an_rfc2069_answer_without_qop() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let nonce = iss.issue(t0);
    let ha2 = Algorithm::Md5.hash("REGISTER:sip:qonyrau");
    let response = Algorithm::Md5.hash(&format!("{}:{nonce}:{ha2}", stored()));
    let value = format!(
        "Digest username=\"1001\", realm=\"qonyrau\", nonce=\"{nonce}\", \
         uri=\"sip:qonyrau\", response=\"{response}\""
    );
    let creds = Credentials::parse(&value).unwrap();
    assert_eq!(
        check(&mut iss, t0, &creds),
        Err(DigestError::MissingQop { missing: "qop" })
    );
}

#[test]
fn challenge_round_trips_with_stale_and_opaque() {
    let ch = Challenge {
        realm: "qonyrau".to_owned(),
        nonce: "abc123".to_owned(),
        algorithm: Algorithm::Sha256,
        opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".to_owned()),
        stale: true,
    };
    let value = ch.header_value();
    assert_eq!(
        value,
        "Digest realm=\"qonyrau\", nonce=\"abc123\", algorithm=SHA-256, qop=\"auth\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", stale=true"
    );
    assert_eq!(Challenge::parse(&value), Ok(ch));
}

#[test]
fn challenge_round_trips_plain_md5() {
    let ch = challenge("n\"q\\x".to_owned(), Algorithm::Md5);
    assert_eq!(
        ch.header_value(),
        "Digest realm=\"qonyrau\", nonce=\"n\\\"q\\\\x\", algorithm=MD5, qop=\"auth\""
    );
    assert_eq!(Challenge::parse(&ch.header_value()), Ok(ch));
}

#[test]
fn challenge_parse_tolerates_order_tokens_case_spaces_and_extra_params() {
    let value = "digest  qop=\"auth,auth-int\" ,nonce=xyz,charset=UTF-8,\
                 ALGORITHM = sha-256 , realm = \"a, b\", stale=TRUE, domain=\"sip:x\"";
    let ch = Challenge::parse(value).unwrap();
    assert_eq!(ch.realm, "a, b");
    assert_eq!(ch.nonce, "xyz");
    assert_eq!(ch.algorithm, Algorithm::Sha256);
    assert!(ch.stale);
    assert_eq!(ch.opaque, None);
}

#[test]
fn challenge_parse_refuses_missing_auth_qop_and_session_algorithms() {
    assert_eq!(
        Challenge::parse("Digest realm=\"r\", nonce=\"n\""),
        Err(DigestError::MissingQop { missing: "qop" })
    );
    assert!(matches!(
        Challenge::parse("Digest realm=r, nonce=n, qop=\"auth-int\""),
        Err(DigestError::UnsupportedQop { .. })
    ));
    assert!(matches!(
        Challenge::parse("Digest realm=r, nonce=n, qop=auth, algorithm=MD5-sess"),
        Err(DigestError::SessionAlgorithm { .. })
    ));
    assert_eq!(
        Challenge::parse("Digest realm=r, qop=auth"),
        Err(DigestError::MissingParam { param: "nonce" })
    );
}

#[test]
fn algorithm_parse_is_case_insensitive_and_refuses_sess_and_unknown() {
    assert_eq!("md5".parse::<Algorithm>(), Ok(Algorithm::Md5));
    assert_eq!(Algorithm::parse("sha-256"), Ok(Algorithm::Sha256));
    assert!(matches!(
        Algorithm::parse("SHA-256-sess"),
        Err(DigestError::SessionAlgorithm { .. })
    ));
    assert!(matches!(
        Algorithm::parse("SHA-512-256"),
        Err(DigestError::UnknownAlgorithm { .. })
    ));
}

#[test]
fn credentials_parse_defaults_to_md5_and_names_a_missing_field() {
    let c = Credentials::parse(
        "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"ab\"",
    )
    .unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert_eq!((c.nc, c.cnonce, c.qop), (None, None, None));
    assert_eq!(
        Credentials::parse("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"x\""),
        Err(DigestError::MissingParam { param: "response" })
    );
}

#[test]
fn credentials_parse_refuses_bad_nc_other_schemes_and_malformed_params() {
    let base = "Digest username=u, realm=r, nonce=n, uri=x, response=ab";
    for nc in ["1", "0000000g", "000000001", "+0000001", ""] {
        assert!(
            matches!(
                Credentials::parse(&format!("{base}, nc={nc}")),
                Err(DigestError::BadNonceCount { .. })
            ),
            "nc={nc}"
        );
    }
    assert!(matches!(
        Credentials::parse("Basic dXNlcjpwYXNz"),
        Err(DigestError::NotDigest { .. })
    ));
    assert!(matches!(
        Credentials::parse(&format!("{base}, nonce=m")),
        Err(DigestError::DuplicateParam { .. })
    ));
    assert!(matches!(
        Credentials::parse("Digest username=\"u"),
        Err(DigestError::UnterminatedQuote { .. })
    ));
    assert!(matches!(
        Credentials::parse("Digest username=\"u\"x, realm=r"),
        Err(DigestError::ExpectedComma { .. })
    ));
    assert!(matches!(
        Credentials::parse("Digest username"),
        Err(DigestError::MissingEquals { .. })
    ));
}

#[test]
fn parsers_never_panic_on_truncations_or_garbage() {
    let valid = authorization(
        &Challenge {
            opaque: Some("ö\"p".to_owned()),
            ..challenge("nönce".to_owned(), Algorithm::Sha256)
        },
        "ünï\\code",
        "pw",
        "REGISTER",
        "sip:qonyrau",
        "cn",
        0xffff_ffff,
    );
    let header = challenge("n".to_owned(), Algorithm::Md5).header_value();
    for text in [&valid, &header] {
        for (i, _) in text.char_indices() {
            let _ = Credentials::parse(&text[..i]);
            let _ = Challenge::parse(&text[..i]);
        }
    }
    let garbage = [
        "",
        " ",
        "Digest",
        "Digest ",
        "Digest ,,,",
        "Digest =",
        "Digest =x",
        "Digest a=",
        "Digest a=\"\\",
        "Digest a=\"\\\"",
        "Digest nc=ffffffff, nc",
        "Digest\u{0} a=b",
        "Digestx a=b",
        "ДДДД a=\"ж\"",
        "Digest ж=\"ж\", ж",
        "\"\"\"\"",
        "Digest algorithm=-sess",
        "Digest algorithm=\u{00e9}-sess",
        "Digest algorithm=\u{00e9}\u{00e9}\u{00e9}",
    ];
    for g in garbage {
        let _ = Credentials::parse(g);
        let _ = Challenge::parse(g);
        let _ = Algorithm::parse(g);
    }
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    for g in garbage {
        assert_eq!(iss.check(t0, g, Some(1)), NonceCheck::Invalid);
    }
}

#[test]
fn nonces_are_unique_and_hold_no_quotes_commas_or_spaces() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let a = iss.issue(t0);
    let b = iss.issue(t0);
    assert_ne!(a, b);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(iss.check(t0, &a, Some(1)), NonceCheck::Fresh);
    assert_eq!(
        iss.check(t0, &a.to_uppercase(), Some(1)),
        NonceCheck::Invalid
    );
}

#[test]
fn nonce_becomes_stale_just_after_its_lifetime() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let n = iss.issue(t0);
    assert_eq!(iss.check(t0 + LIFETIME, &n, Some(1)), NonceCheck::Fresh);
    let after = t0 + LIFETIME + Duration::from_millis(1);
    assert_eq!(iss.check(after, &n, Some(1)), NonceCheck::Stale);
}

#[test]
fn nonce_issuer_prunes_counts_of_expired_nonces() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let old = iss.issue(t0);
    assert!(check(&mut iss, t0, &answer(&old, "s3cret", 1)).is_ok());
    let t1 = t0 + Duration::from_secs(200);
    let new = iss.issue(t1);
    assert!(check(&mut iss, t1, &answer(&new, "s3cret", 1)).is_ok());
    assert_eq!(iss.seen.len(), 2);
    let t2 = t0 + LIFETIME + Duration::from_secs(1);
    assert_eq!(iss.check(t2, &new, Some(2)), NonceCheck::Fresh);
    assert_eq!(iss.seen.len(), 1);
}

#[test]
fn nonce_issuer_when_full_drops_the_oldest_and_calls_it_stale() {
    let t0 = Instant::now();
    let mut iss = issuer(t0).with_max_tracked(2);
    let nonces: Vec<String> = (0..3).map(|_| iss.issue(t0)).collect();
    for n in &nonces {
        assert!(check(&mut iss, t0, &answer(n, "s3cret", 1)).is_ok());
    }
    assert_eq!(iss.seen.len(), 2);
    // The dropped nonce cannot be replayed with its old count: the client must re-challenge.
    let err = check(&mut iss, t0, &answer(&nonces[0], "s3cret", 1)).unwrap_err();
    assert!(err.is_stale());
    assert!(check(&mut iss, t0, &answer(&nonces[2], "s3cret", 2)).is_ok());
}

#[test]
fn nonce_count_zero_is_never_fresh() {
    let t0 = Instant::now();
    let mut iss = issuer(t0);
    let n = iss.issue(t0);
    assert_eq!(iss.check(t0, &n, Some(0)), NonceCheck::Replayed);
}

#[test]
fn random_helpers_give_distinct_values() {
    assert_ne!(random_secret(), random_secret());
    let c = random_cnonce();
    assert_eq!(c.len(), 32);
    assert_ne!(c, random_cnonce());
}
