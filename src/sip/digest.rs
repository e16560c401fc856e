//! SIP digest authentication, RFC 7616 with the SIP SHA-256 update of RFC 8760: both sides.
//!
//! Server side: [`NonceIssuer`] makes nonces that carry their issue time and a keyed hash, so a
//! forged nonce is refused without remembering every nonce issued, and keeps the highest
//! nonce-count accepted per nonce (bounded, see [`NonceIssuer`]). [`Challenge`] prints the
//! `WWW-Authenticate`/`Proxy-Authenticate` value; [`Credentials::parse`] reads an
//! `Authorization`/`Proxy-Authorization` value; [`verify`] checks it against the stored
//! [`ha1`] (the server stores HA1, never the password) and returns a [`DigestVerified`] proof
//! token, the only way to get one.
//!
//! Client side (a trunk answering 401/407): [`Challenge::parse`] and [`authorization`].
//!
//! Sans-IO: no clock (time is the `now` argument), no sockets, no storage lookups. Deliberately
//! not supported: `qop=auth-int`, the `*-sess` algorithms, `userhash` and `username*`
//! (RFC 7616 §3.4.4); RFC 2069 answers without `qop` are refused by [`verify`]. The caller
//! compares [`Credentials::uri`] with the Request-URI and picks the 401 or 407 header.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use md5::Md5;
use rand::Rng;
use sha2::{Digest, Sha256};

/// How many nonces [`NonceIssuer`] tracks nonce-counts for before dropping the oldest.
pub const MAX_TRACKED_NONCES: usize = 100_000;

/// RFC 7616 §3.3 `algorithm`. Only the non-session forms; `*-sess` is refused when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Case-insensitive. `MD5-sess` and `SHA-256-sess` give [`DigestError::SessionAlgorithm`].
    pub fn parse(value: &str) -> Result<Algorithm, DigestError> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if v.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else if v.len() > 5 && v.as_bytes()[v.len() - 5..].eq_ignore_ascii_case(b"-sess") {
            Err(DigestError::SessionAlgorithm {
                value: v.to_owned(),
            })
        } else {
            Err(DigestError::UnknownAlgorithm {
                value: v.to_owned(),
            })
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::parse(s)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("authentication scheme {scheme:?} is not Digest")]
    NotDigest { scheme: String },
    #[error("digest parameter {param:?} has no `=value`")]
    MissingEquals { param: String },
    #[error("digest parameter {param:?} has an unterminated quoted value")]
    UnterminatedQuote { param: String },
    #[error("digest parameter {param:?} is followed by text instead of a comma")]
    ExpectedComma { param: String },
    #[error("a digest parameter has an empty name")]
    EmptyParamName,
    #[error("digest parameter {param:?} appears twice")]
    DuplicateParam { param: String },
    #[error("digest parameter {param} is missing")]
    MissingParam { param: &'static str },
    #[error("nonce-count {value:?} is not 8 hex digits")]
    BadNonceCount { value: String },
    #[error("unknown digest algorithm {value:?}")]
    UnknownAlgorithm { value: String },
    #[error("session digest algorithm {value:?} is not supported")]
    SessionAlgorithm { value: String },
    #[error("userhash is not supported")]
    Userhash,
    #[error("digest algorithm {algorithm} is not allowed here")]
    UnsupportedAlgorithm { algorithm: Algorithm },
    #[error("credentials are for realm {got:?}, expected {expected:?}")]
    WrongRealm { expected: String, got: String },
    #[error("qop=auth answer lacks {missing} (RFC 2069 answers are refused)")]
    MissingQop { missing: &'static str },
    #[error("qop {qop:?} is not supported, only auth")]
    UnsupportedQop { qop: String },
    #[error("nonce was not issued by us")]
    BadNonce,
    #[error("digest response does not match")]
    WrongResponse,
    #[error("nonce is stale (the response was right; challenge again with stale=true)")]
    Stale,
    #[error("nonce-count {nc:08x} was already used with this nonce")]
    Replayed { nc: u32 },
}

impl DigestError {
    /// True when the answer is a new challenge with `stale=true` (RFC 7616 §3.3).
    pub fn is_stale(&self) -> bool {
        matches!(self, DigestError::Stale)
    }
}

/// Lowercase hex of H(username:realm:password), RFC 7616 §3.4.2: what the server stores.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash(&format!("{username}:{realm}:{password}"))
}

/// RFC 7616 §3.4.1. With `qop`, H(HA1:nonce:nc:cnonce:qop:HA2); a missing `nc` or `cnonce` is
/// taken as 0 or empty ([`verify`] refuses those before calling). Without `qop`, the RFC 2069
/// form H(HA1:nonce:HA2). HA2 is always H(method:uri): `auth-int` is not supported.
#[allow(clippy::too_many_arguments)] // the RFC's inputs, in the RFC's order
pub fn expected_response(
    alg: Algorithm,
    ha1_hex: &str,
    nonce: &str,
    nc: Option<u32>,
    cnonce: Option<&str>,
    qop: Option<&str>,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    match qop {
        Some(qop) => {
            let nc = nc.unwrap_or(0);
            let cnonce = cnonce.unwrap_or("");
            alg.hash(&format!("{ha1_hex}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"))
        }
        None => alg.hash(&format!("{ha1_hex}:{nonce}:{ha2}")),
    }
}

/// A `WWW-Authenticate`/`Proxy-Authenticate` digest challenge, RFC 7616 §3.3. We always offer
/// (and, as a client, require) `qop="auth"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    pub opaque: Option<String>,
    pub stale: bool,
}

impl Challenge {
    pub fn header_value(&self) -> String {
        let mut out = format!(
            "Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm
        );
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            out.push_str(&quote(opaque));
        }
        if self.stale {
            out.push_str(", stale=true");
        }
        out
    }

    /// Reads a challenge in any parameter order, quoted or token values, ignoring unknown
    /// parameters. A missing `algorithm` means MD5. A challenge without `qop`, or whose `qop`
    /// list lacks `auth`, is refused: this client answers only with `qop=auth`.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let params = parse_params(value)?;
        let get = |name: &str| find(&params, name);
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => Algorithm::Md5,
        };
        match get("qop") {
            None => return Err(DigestError::MissingQop { missing: "qop" }),
            Some(q) if !q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) => {
                return Err(DigestError::UnsupportedQop { qop: q.to_owned() })
            }
            Some(_) => {}
        }
        if get("userhash").is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(DigestError::Userhash);
        }
        Ok(Challenge {
            realm: required(&params, "realm")?.to_owned(),
            nonce: required(&params, "nonce")?.to_owned(),
            algorithm,
            opaque: get("opaque").map(str::to_owned),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// An `Authorization`/`Proxy-Authorization` digest answer, RFC 7616 §3.4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    /// MD5 when the header has no `algorithm`.
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    /// `nc`, 8 hex digits on the wire.
    pub nc: Option<u32>,
    pub qop: Option<String>,
    pub opaque: Option<String>,
}

impl Credentials {
    /// Never panics; each failure names what is wrong.
    pub fn parse(value: &str) -> Result<Credentials, DigestError> {
        let params = parse_params(value)?;
        let get = |name: &str| find(&params, name);
        if get("userhash").is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(DigestError::Userhash);
        }
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => Algorithm::Md5,
        };
        let nc = get("nc").map(parse_nc).transpose()?;
        Ok(Credentials {
            username: required(&params, "username")?.to_owned(),
            realm: required(&params, "realm")?.to_owned(),
            nonce: required(&params, "nonce")?.to_owned(),
            uri: required(&params, "uri")?.to_owned(),
            response: required(&params, "response")?.to_owned(),
            algorithm,
            cnonce: get("cnonce").map(str::to_owned),
            nc,
            qop: get("qop").map(str::to_owned),
            opaque: get("opaque").map(str::to_owned),
        })
    }
}

/// The client's answer to `ch`, a complete `Authorization`/`Proxy-Authorization` value with
/// `qop=auth`. `nc` counts the requests this client made with this nonce, from 1.
pub fn authorization(
    ch: &Challenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let ha1_hex = ha1(ch.algorithm, username, &ch.realm, password);
    let response = expected_response(
        ch.algorithm,
        &ha1_hex,
        &ch.nonce,
        Some(nc),
        Some(cnonce),
        Some("auth"),
        method,
        uri,
    );
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", \
         algorithm={}, cnonce={}, nc={nc:08x}, qop=auth",
        quote(username),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(uri),
        ch.algorithm,
        quote(cnonce),
    );
    if let Some(opaque) = &ch.opaque {
        out.push_str(", opaque=");
        out.push_str(&quote(opaque));
    }
    out
}

/// 32 random bytes for [`NonceIssuer::new`], drawn once per process by the driver.
pub fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::rng().fill(&mut secret);
    secret
}

/// A fresh client nonce for [`authorization`]: 16 random bytes, hex.
pub fn random_cnonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    hex::encode(bytes)
}

/// What [`NonceIssuer::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    /// Ours, but older than the lifetime (or its nonce-count state was dropped).
    Stale,
    /// Ours and fresh, but `nc` is not above the highest accepted for it (RFC 7616 §5.12).
    Replayed,
    /// Not issued by us: malformed or the keyed hash does not verify.
    Invalid,
}

/// Issues and checks server nonces, RFC 7616 §3.3 and §3.4.5.
///
/// A nonce is 64 lowercase hex digits: issue time in seconds since this issuer's epoch (16),
/// a counter (16), and the first 16 bytes of SHA-256(secret ‖ time ‖ counter) (32). The counter
/// makes every nonce unique, so nonce-count state is keyed by it.
///
/// Nonce-count state is kept only for nonces that had an answer verified; expired entries are
/// pruned on every check. At most `max_tracked` entries are kept ([`MAX_TRACKED_NONCES`] by
/// default): when full, the oldest is dropped and every nonce issued up to it is then reported
/// [`NonceCheck::Stale`], so a dropped nonce cannot be replayed; its client just re-challenges.
/// The secret must be fresh per process ([`random_secret`]): a restart forgets the counts.
pub struct NonceIssuer {
    epoch: Instant,
    secret: [u8; 32],
    lifetime: Duration,
    counter: u64,
    /// counter → (issue second, highest nc accepted)
    seen: BTreeMap<u64, (u64, u32)>,
    /// Nonces with a counter below this lost their state to the cap and count as stale.
    forgotten_below: u64,
    max_tracked: usize,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("NonceIssuer")
            .field("lifetime", &self.lifetime)
            .field("counter", &self.counter)
            .field("tracked", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl NonceIssuer {
    pub fn new(now: Instant, secret: [u8; 32], lifetime: Duration) -> NonceIssuer {
        NonceIssuer {
            epoch: now,
            secret,
            lifetime,
            counter: 0,
            seen: BTreeMap::new(),
            forgotten_below: 0,
            max_tracked: MAX_TRACKED_NONCES,
        }
    }

    /// Caps the nonce-count map at `max` entries (at least 1) instead of [`MAX_TRACKED_NONCES`].
    pub fn with_max_tracked(mut self, max: usize) -> NonceIssuer {
        self.max_tracked = max.max(1);
        self
    }

    pub fn issue(&mut self, now: Instant) -> String {
        self.counter += 1;
        let secs = self.secs(now);
        let mac = self.mac(secs, self.counter);
        format!("{secs:016x}{:016x}{}", self.counter, hex::encode(mac))
    }

    /// Classifies `nonce` at `now`. Records nothing: [`verify`] records `nc` only after the
    /// response matched. With `nc` absent, a nonce that already had an answer is `Replayed`.
    /// The age counts from the whole second the nonce was issued in.
    pub fn check(&mut self, now: Instant, nonce: &str, nc: Option<u32>) -> NonceCheck {
        let Some((secs, counter)) = self.decode(nonce) else {
            return NonceCheck::Invalid;
        };
        self.prune(now);
        if self.expired(now, secs) {
            return NonceCheck::Stale;
        }
        match self.seen.get(&counter) {
            Some(&(_, highest)) if nc.is_none_or(|nc| nc <= highest) => NonceCheck::Replayed,
            Some(_) => NonceCheck::Fresh,
            None if counter < self.forgotten_below => NonceCheck::Stale,
            // nc counts from 1 (RFC 7616 §3.4), so 0 is never above "nothing accepted".
            None if nc == Some(0) => NonceCheck::Replayed,
            None => NonceCheck::Fresh,
        }
    }

    /// Remembers `nc` as the highest accepted for `nonce`; called by [`verify`] on success.
    fn record(&mut self, nonce: &str, nc: u32) {
        let Some((secs, counter)) = self.decode(nonce) else {
            return;
        };
        let entry = self.seen.entry(counter).or_insert((secs, 0));
        entry.1 = entry.1.max(nc);
        while self.seen.len() > self.max_tracked {
            if let Some((oldest, _)) = self.seen.pop_first() {
                self.forgotten_below = self.forgotten_below.max(oldest + 1);
            }
        }
    }

    /// Drops state of nonces past their lifetime; counters grow with time, so they are first.
    fn prune(&mut self, now: Instant) {
        while let Some((_, &(secs, _))) = self.seen.first_key_value() {
            if !self.expired(now, secs) {
                break;
            }
            self.seen.pop_first();
        }
    }

    fn expired(&self, now: Instant, secs: u64) -> bool {
        let issued = self.epoch + Duration::from_secs(secs);
        now.saturating_duration_since(issued) > self.lifetime
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    fn mac(&self, secs: u64, counter: u64) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(secs.to_be_bytes());
        h.update(counter.to_be_bytes());
        let full = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// `(issue second, counter)` of a nonce we issued, or `None`.
    fn decode(&self, nonce: &str) -> Option<(u64, u64)> {
        let b = nonce.as_bytes();
        // Lowercase hex only, so exactly one spelling of each nonce verifies.
        if b.len() != 64 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let secs = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let counter = u64::from_str_radix(&nonce[16..32], 16).ok()?;
        let mac = hex::decode(&nonce[32..]).ok()?;
        ct_eq(&mac, &self.mac(secs, counter)).then_some((secs, counter))
    }
}

/// Proof that a request's digest credentials verified; only [`verify`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestVerified {
    username: String,
}

impl DigestVerified {
    pub fn username(&self) -> &str {
        &self.username
    }
}

/// Server-side check of `creds` for a request with `method`, RFC 7616 §3.4 and §3.4.5.
///
/// `stored_ha1` is the [`ha1`] of `creds.username` for `creds.algorithm` in `realm`. Checks, in
/// order: algorithm in `allowed`, realm, `qop=auth` with `nc` and `cnonce`, nonce ours, the
/// response (constant time), then staleness (reported only for a right response, so
/// `stale=true` means "right password, old nonce") and replay. The `nc` is recorded only on
/// success. The caller checks `creds.uri` against the Request-URI.
pub fn verify(
    issuer: &mut NonceIssuer,
    now: Instant,
    method: &str,
    creds: &Credentials,
    realm: &str,
    stored_ha1: &str,
    allowed: &[Algorithm],
) -> Result<DigestVerified, DigestError> {
    if !allowed.contains(&creds.algorithm) {
        return Err(DigestError::UnsupportedAlgorithm {
            algorithm: creds.algorithm,
        });
    }
    if creds.realm != realm {
        return Err(DigestError::WrongRealm {
            expected: realm.to_owned(),
            got: creds.realm.clone(),
        });
    }
    let qop = creds
        .qop
        .as_deref()
        .ok_or(DigestError::MissingQop { missing: "qop" })?;
    if !qop.eq_ignore_ascii_case("auth") {
        return Err(DigestError::UnsupportedQop {
            qop: qop.to_owned(),
        });
    }
    let nc = creds.nc.ok_or(DigestError::MissingQop { missing: "nc" })?;
    let cnonce = creds
        .cnonce
        .as_deref()
        .ok_or(DigestError::MissingQop { missing: "cnonce" })?;
    let state = issuer.check(now, &creds.nonce, Some(nc));
    if state == NonceCheck::Invalid {
        return Err(DigestError::BadNonce);
    }
    let expected = expected_response(
        creds.algorithm,
        &stored_ha1.to_ascii_lowercase(),
        &creds.nonce,
        Some(nc),
        Some(cnonce),
        Some(qop),
        method,
        &creds.uri,
    );
    if !ct_eq(
        expected.as_bytes(),
        creds.response.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(DigestError::WrongResponse);
    }
    match state {
        NonceCheck::Stale => Err(DigestError::Stale),
        NonceCheck::Replayed => Err(DigestError::Replayed { nc }),
        NonceCheck::Invalid => Err(DigestError::BadNonce),
        NonceCheck::Fresh => {
            issuer.record(&creds.nonce, nc);
            Ok(DigestVerified {
                username: creds.username.clone(),
            })
        }
    }
}

/// Compares without an early exit, so timing does not reveal the matching prefix.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// RFC 7616 §3.3 quoted-string, escaping `"` and `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn find<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, DigestError> {
    find(params, name).ok_or(DigestError::MissingParam { param: name })
}

/// RFC 7616 §3.4: `nc` is exactly 8 hex digits.
fn parse_nc(value: &str) -> Result<u32, DigestError> {
    let bad = || DigestError::BadNonceCount {
        value: value.to_owned(),
    };
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(value, 16).map_err(|_| bad())
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

/// `Digest name=value, name="quoted", …` into lowercase names and unquoted values. Slices only
/// at ASCII delimiters, so any UTF-8 input is safe.
fn parse_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let value = value.trim_start_matches(is_ws);
    let scheme_end = value.find(is_ws).unwrap_or(value.len());
    let scheme = &value[..scheme_end];
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest {
            scheme: scheme.chars().take(32).collect(),
        });
    }
    let mut rest = &value[scheme_end..];
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || is_ws(c));
        if rest.is_empty() {
            return Ok(params);
        }
        let name_end = rest
            .find(|c: char| c == '=' || c == ',' || is_ws(c))
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        if name.is_empty() {
            return Err(DigestError::EmptyParamName);
        }
        rest = rest[name_end..].trim_start_matches(is_ws);
        let Some(after_eq) = rest.strip_prefix('=') else {
            return Err(DigestError::MissingEquals { param: name });
        };
        rest = after_eq.trim_start_matches(is_ws);
        let val = if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut end = None;
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => out.push(escaped),
                        None => break,
                    },
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => out.push(c),
                }
            }
            let Some(end) = end else {
                return Err(DigestError::UnterminatedQuote { param: name });
            };
            rest = &quoted[end..];
            out
        } else {
            let end = rest
                .find(|c: char| c == ',' || is_ws(c))
                .unwrap_or(rest.len());
            let token = rest[..end].to_owned();
            rest = &rest[end..];
            token
        };
        let after = rest.trim_start_matches(is_ws);
        if !after.is_empty() && !after.starts_with(',') {
            return Err(DigestError::ExpectedComma { param: name });
        }
        if params.iter().any(|(k, _)| *k == name) {
            return Err(DigestError::DuplicateParam { param: name });
        }
        params.push((name, val));
    }
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
