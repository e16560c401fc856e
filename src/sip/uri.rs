//! The pieces of header values we read: Via (RFC 3261 §20.42, RFC 3581), name-addr with
//! parameters (From, To, Contact, Record-Route), and SIP URIs (§19.1). Sans-IO, lenient
//! where the RFC allows and returning `None` on anything we cannot use.

use std::net::{IpAddr, SocketAddr};

/// RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// `SIP/2.0/UDP host:port;branch=…;rport;received=…`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    /// `Some(None)` = `rport` present without value (RFC 3581 §3).
    pub rport: Option<Option<u16>>,
    pub received: Option<String>,
}

impl Via {
    pub fn parse(value: &str) -> Option<Via> {
        let (proto, rest) = split_protocol(value)?;
        let mut params = rest.split(';');
        let sent_by = params.next()?.trim();
        let (host, port) = split_host_port(sent_by)?;
        let mut via = Via {
            transport: proto.to_ascii_uppercase(),
            host,
            port,
            branch: None,
            rport: None,
            received: None,
        };
        for p in params {
            let p = p.trim();
            if p.is_empty() {
                return None; // `;;` is an empty via-param (badinv01)
            }
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p, None),
            };
            match k.to_ascii_lowercase().as_str() {
                "branch" => via.branch = Some(v?.to_string()),
                "rport" => via.rport = Some(v.and_then(|v| v.parse().ok())),
                "received" => via.received = Some(v?.to_string()),
                _ => {}
            }
        }
        Some(via)
    }

    /// True when the branch carries the RFC 3261 magic cookie (§17.2.3 matching applies).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
    }

    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// `SIP / 2.0 / UDP` (LWS allowed around the slashes) and the rest.
fn split_protocol(value: &str) -> Option<(String, &str)> {
    let value = value.trim_start();
    let mut rest = value;
    let mut parts = Vec::new();
    for i in 0..3 {
        rest = rest.trim_start();
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(rest.len());
        parts.push(&rest[..end]);
        rest = rest[end..].trim_start();
        if i < 2 {
            rest = rest.strip_prefix('/')?;
        }
    }
    if !parts[0].eq_ignore_ascii_case("SIP") || parts[2].is_empty() {
        return None;
    }
    Some((parts[2].to_string(), rest))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((format!("[{host}]"), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), Some(p.parse().ok()?))),
        _ => {
            if s.contains(char::is_whitespace) {
                return None;
            }
            Some((s.to_string(), None))
        }
    }
}

/// The host of a Via or URI as an IP address, when it is one.
pub fn host_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// `"Display" <sip:u@h;uparam>;tag=x;other` or `sip:u@h;tag=x` (addr-spec: params are
/// header params, RFC 3261 §20.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: String,
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    pub fn parse(value: &str) -> Option<NameAddr> {
        let value = value.trim();
        if let Some(lt) = find_unquoted(value, '<') {
            let display = value[..lt].trim();
            let display = if display.is_empty() {
                None
            } else {
                if display.starts_with('"') && !(display.len() >= 2 && display.ends_with('"')) {
                    return None; // unterminated quoted string (quotbal)
                }
                Some(display.trim_matches('"').to_string())
            };
            let rest = &value[lt + 1..];
            let gt = rest.find('>')?;
            let uri = rest[..gt].trim().to_string();
            if uri.is_empty() || uri.contains(char::is_whitespace) {
                return None;
            }
            Some(NameAddr {
                display,
                uri,
                params: parse_params(&rest[gt + 1..]),
            })
        } else {
            if value.starts_with('"') {
                return None;
            }
            let mut parts = value.splitn(2, ';');
            let uri = parts.next()?.trim().to_string();
            if uri.is_empty() || uri.contains(char::is_whitespace) || !uri.contains(':') {
                return None;
            }
            Some(NameAddr {
                display: None,
                uri,
                params: parse_params(parts.next().unwrap_or("")),
            })
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }
}

fn find_unquoted(s: &str, wanted: char) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == wanted && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_params(s: &str) -> Vec<(String, Option<String>)> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (p.to_string(), None),
        })
        .collect()
}

/// A `sip:`/`sips:` URI: the parts we route and answer on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    pub scheme: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    pub fn parse(uri: &str) -> Option<SipUri> {
        let (scheme, rest) = uri.split_once(':')?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return None;
        }
        let rest = rest.split('?').next()?;
        // user part may contain ';' (semiuri): the host part starts after the last '@'.
        let (user, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(rest[..at].to_string()), &rest[at + 1..]),
            None => (None, rest),
        };
        let mut pieces = hostpart.split(';');
        let (host, port) = split_host_port(pieces.next()?)?;
        Some(SipUri {
            scheme,
            user,
            host,
            port,
            params: parse_params(&pieces.collect::<Vec<_>>().join(";")),
        })
    }

    /// The dialled number: the user part up to any `;` user parameter.
    pub fn user_number(&self) -> Option<&str> {
        self.user
            .as_deref()
            .map(|u| u.split(';').next().unwrap_or(u))
    }

    pub fn transport(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("transport"))
            .and_then(|(_, v)| v.as_deref())
    }

    /// Where to send requests for this URI when the host is an IP literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let ip = host_ip(&self.host)?;
        let default = if self.scheme == "sips" { 5061 } else { 5060 };
        Some(SocketAddr::new(ip, self.port.unwrap_or(default)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_rport_and_received() {
        let v =
            Via::parse("SIP  /   2.0 /UDP 192.0.2.2:5070;branch=z9hG4bKx;rport;received=1.2.3.4")
                .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.branch.as_deref(), Some("z9hG4bKx"));
        assert_eq!(v.rport, Some(None));
        assert_eq!(v.received.as_deref(), Some("1.2.3.4"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn empty_via_params_are_refused() {
        assert_eq!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,"), None);
        assert!(!Via::parse("SIP/2.0/UDP h;branch=z9hG4bK")
            .unwrap()
            .has_rfc3261_branch());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse("\"Bob, Jr\" <sip:bob@h;transport=tcp>;tag=1;x").unwrap();
        assert_eq!(n.display.as_deref(), Some("Bob, Jr"));
        assert_eq!(n.uri, "sip:bob@h;transport=tcp");
        assert_eq!(n.tag(), Some("1"));
        let n = NameAddr::parse("sip:a@b;tag=2").unwrap();
        assert_eq!((n.uri.as_str(), n.tag()), ("sip:a@b", Some("2")));
        assert_eq!(NameAddr::parse("\"unterminated <sip:a@b>"), None);
        assert_eq!(NameAddr::parse("<sip:a @b>"), None);
    }

    #[test]
    fn sip_uri_user_with_params_and_ipv6() {
        let u = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user_number(), Some("user"));
        assert_eq!(u.host, "example.com");
        let u = SipUri::parse("sip:100@[::1]:5070;transport=tcp").unwrap();
        assert_eq!(u.socket_addr(), Some("[::1]:5070".parse().unwrap()));
        assert_eq!(u.transport(), Some("tcp"));
        assert_eq!(SipUri::parse("tel:+7701"), None);
    }
}
