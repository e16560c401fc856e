//! Registrar bindings, RFC 3261 §10.3, sans-IO: what a REGISTER asks for (query, add or
//! refresh contacts, remove one, remove all with `*`), the expiry rules (`Expires` header or
//! per-contact `expires`, `423 Interval Too Brief` with `Min-Expires`, a ceiling), the
//! Call-ID/CSeq ordering of refreshes, and the `Contact` list the 200 carries.
//!
//! Who may register (digest, lockout) is `crate::registrar::core`; where bindings are kept
//! (database, location cache) is the registrar driver. Civil time comes in as an argument
//! (bindings outlive a restart, so expiry is a UTC timestamp, not a monotonic instant).

use std::net::SocketAddr;
use std::time::Duration;

use jiff::Timestamp;

use crate::sip::message::{split_commas, Message};
use crate::sip::uri::{NameAddr, SipUri};

/// How the registrar treats expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Shorter requests get `423` with this as `Min-Expires`.
    pub min: u32,
    /// Longer requests are granted this.
    pub max: u32,
    /// When the request names none.
    pub default: u32,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy {
            min: 60,
            max: 3600,
            default: 3600,
        }
    }
}

/// How the softphone is reached: where its REGISTER really came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Over UDP to the source address and port (rport/received, RFC 3581).
    Udp(SocketAddr),
    /// Over the TCP connection the REGISTER arrived on (the connection id is the driver's).
    Tcp { source: SocketAddr, conn: u64 },
}

impl Reach {
    pub fn source(&self) -> SocketAddr {
        match *self {
            Reach::Udp(a) | Reach::Tcp { source: a, .. } => a,
        }
    }

    pub fn transport(&self) -> &'static str {
        match self {
            Reach::Udp(_) => "udp",
            Reach::Tcp { .. } => "tcp",
        }
    }
}

/// One registered contact of an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as sent (without angle brackets), e.g. `sip:2001@10.0.0.5:5060`.
    pub contact: String,
    pub expires_at: Timestamp,
    pub call_id: String,
    pub cseq: u32,
    pub reach: Reach,
    pub user_agent: Option<String>,
}

impl Binding {
    pub fn remaining(&self, now: Timestamp) -> u32 {
        let secs = self.expires_at.as_second() - now.as_second();
        secs.max(0) as u32
    }
}

/// The Contact part of a REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactSpec {
    /// No Contact: list the current bindings.
    Query,
    /// `Contact: *` with `Expires: 0`: remove every binding.
    RemoveAll,
    /// Add, refresh or (expires 0) remove these URIs; `None` takes the Expires header.
    Set(Vec<(String, Option<u32>)>),
}

/// A parsed REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterRequest {
    /// The To URI's user part: the extension.
    pub extension: String,
    pub contacts: ContactSpec,
    pub expires: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub user_agent: Option<String>,
}

/// Why a REGISTER is refused (before or after authentication); [`RegisterError::status`]
/// is its wire code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("the To header has no user part naming an extension")]
    NoExtension,
    #[error("malformed Contact: {0}")]
    BadContact(String),
    #[error("Contact: * needs Expires: 0 and no other contact (RFC 3261 §10.3 step 6)")]
    BadWildcard,
    #[error("expiry {asked} s is shorter than the minimum {min} s")]
    TooBrief { asked: u32, min: u32 },
    #[error("CSeq {cseq} is not above {last} for the same Call-ID (RFC 3261 §10.3 step 7)")]
    OutOfOrder { cseq: u32, last: u32 },
    #[error("too many contacts for one extension (at most {0})")]
    TooManyContacts(usize),
}

impl RegisterError {
    pub fn status(&self) -> u16 {
        match self {
            RegisterError::NoExtension => 404,
            RegisterError::BadContact(_) | RegisterError::BadWildcard => 400,
            RegisterError::TooBrief { .. } => 423,
            RegisterError::OutOfOrder { .. } => 500,
            RegisterError::TooManyContacts(_) => 403,
        }
    }
}

/// Contacts one extension may hold (a desk phone, a softphone, a mobile app…).
pub const MAX_CONTACTS: usize = 10;

impl RegisterRequest {
    pub fn parse(req: &Message) -> Result<RegisterRequest, RegisterError> {
        let extension = req.to_user().ok_or(RegisterError::NoExtension)?;
        let expires = req.header("expires").and_then(|v| v.trim().parse().ok());
        let values: Vec<&str> = req
            .header_values("contact")
            .flat_map(split_commas)
            .collect();
        let contacts = if values.is_empty() {
            ContactSpec::Query
        } else if values.iter().any(|v| v.trim() == "*") {
            if values.len() != 1 || expires != Some(0) {
                return Err(RegisterError::BadWildcard);
            }
            ContactSpec::RemoveAll
        } else {
            let mut set = Vec::with_capacity(values.len());
            for v in values {
                let na = NameAddr::parse(v).ok_or_else(|| RegisterError::BadContact(v.into()))?;
                if SipUri::parse(&na.uri).is_none() {
                    return Err(RegisterError::BadContact(v.into()));
                }
                let exp = match na.param("expires") {
                    Some(e) => Some(e.parse().map_err(|_| RegisterError::BadContact(v.into()))?),
                    None => None,
                };
                set.push((na.uri, exp));
            }
            ContactSpec::Set(set)
        };
        Ok(RegisterRequest {
            extension,
            contacts,
            expires,
            call_id: req.call_id().unwrap_or_default().to_string(),
            cseq: req.cseq().map(|(n, _)| n).unwrap_or(0),
            user_agent: req.header("user-agent").map(str::to_string),
        })
    }

    /// Apply the request to `current` (the extension's bindings): the complete new set,
    /// without expired ones. Nothing changes when it fails.
    pub fn apply(
        &self,
        current: &[Binding],
        now: Timestamp,
        reach: Reach,
        policy: &ExpiryPolicy,
    ) -> Result<Vec<Binding>, RegisterError> {
        let mut bindings: Vec<Binding> = current
            .iter()
            .filter(|b| b.expires_at > now)
            .cloned()
            .collect();
        match &self.contacts {
            ContactSpec::Query => {}
            ContactSpec::RemoveAll => {
                // Step 6: refused if any binding of this Call-ID has a CSeq not below it.
                if let Some(b) = bindings
                    .iter()
                    .find(|b| b.call_id == self.call_id && b.cseq >= self.cseq)
                {
                    return Err(RegisterError::OutOfOrder {
                        cseq: self.cseq,
                        last: b.cseq,
                    });
                }
                bindings.clear();
            }
            ContactSpec::Set(set) => {
                for (uri, exp) in set {
                    let asked = exp.or(self.expires).unwrap_or(policy.default);
                    if asked != 0 && asked < policy.min {
                        return Err(RegisterError::TooBrief {
                            asked,
                            min: policy.min,
                        });
                    }
                    let granted = asked.min(policy.max);
                    let existing = bindings.iter().position(|b| same_contact(&b.contact, uri));
                    if let Some(i) = existing {
                        let b = &bindings[i];
                        if b.call_id == self.call_id && b.cseq >= self.cseq {
                            return Err(RegisterError::OutOfOrder {
                                cseq: self.cseq,
                                last: b.cseq,
                            });
                        }
                        if granted == 0 {
                            bindings.remove(i);
                            continue;
                        }
                    } else if granted == 0 {
                        continue; // removing what is not there
                    }
                    let binding = Binding {
                        contact: uri.clone(),
                        expires_at: now + Duration::from_secs(u64::from(granted)),
                        call_id: self.call_id.clone(),
                        cseq: self.cseq,
                        reach,
                        user_agent: self.user_agent.clone(),
                    };
                    match existing {
                        Some(i) => bindings[i] = binding,
                        None => bindings.push(binding),
                    }
                }
                // A phone that restarts registers from a new port while its old contact
                // lingers: at the limit the soonest to expire go, never this request's own.
                while bindings.len() > MAX_CONTACTS {
                    let oldest = bindings
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.call_id != self.call_id || b.cseq != self.cseq)
                        .min_by_key(|(_, b)| b.expires_at)
                        .map(|(i, _)| i);
                    match oldest {
                        Some(i) => {
                            bindings.remove(i);
                        }
                        None => return Err(RegisterError::TooManyContacts(MAX_CONTACTS)),
                    }
                }
            }
        }
        Ok(bindings)
    }
}

/// RFC 3261 §10.3 step 7 compares URIs by §19.1.4; comparing scheme, user, host and port
/// (case-insensitive host) covers what softphones send.
fn same_contact(a: &str, b: &str) -> bool {
    match (SipUri::parse(a), SipUri::parse(b)) {
        (Some(x), Some(y)) => {
            x.scheme == y.scheme
                && x.user == y.user
                && x.host.eq_ignore_ascii_case(&y.host)
                && x.port.unwrap_or(5060) == y.port.unwrap_or(5060)
        }
        _ => a == b,
    }
}

/// The `Contact` header values of a 200 to REGISTER: every current binding with the
/// seconds it has left (RFC 3261 §10.3 step 8).
pub fn contact_values(bindings: &[Binding], now: Timestamp) -> Vec<String> {
    bindings
        .iter()
        .filter(|b| b.expires_at > now)
        .map(|b| format!("<{}>;expires={}", b.contact, b.remaining(now)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn register(extra: &str, call_id: &str, cseq: u32) -> Message {
        let text = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:2001@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).unwrap()
    }

    fn reach() -> Reach {
        Reach::Udp("127.0.0.1:5070".parse().unwrap())
    }

    fn apply(
        current: &[Binding],
        extra: &str,
        call_id: &str,
        cseq: u32,
        now: Timestamp,
    ) -> Result<Vec<Binding>, RegisterError> {
        RegisterRequest::parse(&register(extra, call_id, cseq))?.apply(
            current,
            now,
            reach(),
            &ExpiryPolicy::default(),
        )
    }

    #[test]
    fn a_contact_is_bound_for_the_expires_header_and_listed_with_what_is_left() {
        let b = apply(
            &[],
            "Contact: <sip:2001@127.0.0.1:5070>\r\nExpires: 600\r\n",
            "c1",
            1,
            t(0),
        )
        .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].expires_at, t(600));
        assert_eq!(
            contact_values(&b, t(100)),
            ["<sip:2001@127.0.0.1:5070>;expires=500"]
        );
    }

    #[test]
    fn a_refresh_with_a_higher_cseq_extends_the_same_binding() {
        let b = apply(
            &[],
            "Contact: <sip:2001@h:5070>\r\nExpires: 600\r\n",
            "c1",
            1,
            t(0),
        )
        .unwrap();
        let b = apply(
            &b,
            "Contact: <sip:2001@h:5070>\r\nExpires: 600\r\n",
            "c1",
            2,
            t(300),
        )
        .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].expires_at, t(900));
    }

    #[test]
    fn a_replayed_cseq_for_the_same_call_id_is_refused_500() {
        let b = apply(&[], "Contact: <sip:2001@h:5070>\r\n", "c1", 5, t(0)).unwrap();
        let e = apply(&b, "Contact: <sip:2001@h:5070>\r\n", "c1", 5, t(1)).unwrap_err();
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn several_contacts_per_extension_are_kept() {
        let b = apply(&[], "Contact: <sip:2001@a:5070>\r\n", "c1", 1, t(0)).unwrap();
        let b = apply(&b, "Contact: <sip:2001@b:5072>\r\n", "c2", 1, t(1)).unwrap();
        assert_eq!(b.len(), 2);
        let b = apply(
            &b,
            "Contact: <sip:2001@a:5070>;expires=0\r\n",
            "c1",
            2,
            t(2),
        )
        .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].contact, "sip:2001@b:5072");
    }

    #[test]
    fn too_brief_an_expiry_gets_423_with_the_minimum() {
        let e = apply(
            &[],
            "Contact: <sip:2001@h>\r\nExpires: 30\r\n",
            "c1",
            1,
            t(0),
        )
        .unwrap_err();
        assert_eq!(e, RegisterError::TooBrief { asked: 30, min: 60 });
        assert_eq!(e.status(), 423);
    }

    #[test]
    fn too_long_an_expiry_is_granted_the_maximum() {
        let b = apply(
            &[],
            "Contact: <sip:2001@h>;expires=99999\r\n",
            "c1",
            1,
            t(0),
        )
        .unwrap();
        assert_eq!(b[0].expires_at, t(3600));
    }

    #[test]
    fn past_the_contact_limit_the_soonest_to_expire_makes_room() {
        let mut b = Vec::new();
        for i in 0..MAX_CONTACTS {
            b = apply(
                &b,
                &format!("Contact: <sip:2001@h:{}>\r\n", 6000 + i),
                &format!("c{i}"),
                1,
                t(i as i64),
            )
            .unwrap();
        }
        let b = apply(&b, "Contact: <sip:2001@h:7000>\r\n", "new", 1, t(100)).unwrap();
        assert_eq!(b.len(), MAX_CONTACTS);
        assert!(
            b.iter().any(|x| x.contact == "sip:2001@h:7000"),
            "the new contact is bound"
        );
        assert!(
            !b.iter().any(|x| x.contact == "sip:2001@h:6000"),
            "the oldest made room"
        );
    }

    #[test]
    fn star_with_expires_zero_removes_every_binding() {
        let b = apply(
            &[],
            "Contact: <sip:2001@a>, <sip:2001@b>\r\n",
            "c1",
            1,
            t(0),
        )
        .unwrap();
        assert_eq!(b.len(), 2);
        let b = apply(&b, "Contact: *\r\nExpires: 0\r\n", "c9", 1, t(1)).unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn star_without_expires_zero_is_a_bad_request() {
        let e = apply(&[], "Contact: *\r\n", "c1", 1, t(0)).unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn expired_bindings_are_dropped_and_a_query_lists_the_rest() {
        let b = apply(&[], "Contact: <sip:2001@a>;expires=60\r\n", "c1", 1, t(0)).unwrap();
        let b = apply(&b, "Contact: <sip:2001@b>;expires=600\r\n", "c2", 1, t(0)).unwrap();
        let b = apply(&b, "", "c3", 1, t(61)).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].contact, "sip:2001@b");
    }

    #[test]
    fn a_to_header_without_a_user_is_404_and_a_broken_contact_400() {
        let m = Message::parse(b"REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:h>;tag=a\r\nTo: <sip:h>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
        assert_eq!(RegisterRequest::parse(&m).unwrap_err().status(), 404);
        let e = apply(&[], "Contact: <nonsense\r\n", "c1", 1, t(0)).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}
