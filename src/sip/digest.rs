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
#[allow(clippy::disallowed_methods)]
mod tests {
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
}
