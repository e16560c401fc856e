//! SIP messages: parse (RFC 3261 §7, §25), inspect, build and serialise. Sans-IO.
//!
//! The parser is deliberately liberal in what it can represent and strict in what it
//! reports: it unfolds continuation lines (§7.3.1), expands compact header names (§7.3.3,
//! `v: f: t: i: m: l: c: s: k: e:`), keeps every header in order with its raw value, and
//! accepts any token as a method, so that a request we cannot serve can still be answered
//! (501 for an unknown method, 400 for a broken header) instead of being dropped. Deciding
//! what is acceptable is [`crate::sip::screen`]'s job, not this module's.
//!
//! Why our own and not rsipstack's parser: see docs/sip.md ("Parser").

use std::fmt::Write as _;

use bytes::Bytes;

use crate::sip::uri::{NameAddr, SipUri, Via};

/// The start line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Method,
        uri: String,
        version: String,
    },
    Response {
        version: String,
        code: u16,
        reason: String,
    },
}

/// A method token. Known ones are variants; any other token is kept (RFC 3261 §27.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Register,
    Update,
    Refer,
    Notify,
    Other(String),
}

impl Method {
    pub fn parse(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REGISTER" => Method::Register,
            "UPDATE" => Method::Update,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Register => "REGISTER",
            Method::Update => "UPDATE",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Other(s) => s,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field as received: canonical lower-case name, value with folding removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Bytes,
}

/// Why bytes are not a SIP message at all (nothing can be answered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no end of the header section (CRLF CRLF)")]
    NoHeaderEnd,
    #[error("the header section is not UTF-8")]
    NotText,
    #[error("malformed start line: {0:?}")]
    StartLine(String),
    #[error("malformed header line: {0:?}")]
    HeaderLine(String),
}

/// Expand a compact form (RFC 3261 §7.3.3 and later RFCs) and lower-case the name.
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let long = match lower.as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        "o" => "event",
        "r" => "refer-to",
        "u" => "allow-events",
        "x" => "session-expires",
        _ => return lower,
    };
    long.to_string()
}

/// Headers whose values are comma-separated lists (RFC 3261 §7.3.1): we split them.
fn is_list_header(name: &str) -> bool {
    matches!(
        name,
        "via"
            | "contact"
            | "route"
            | "record-route"
            | "allow"
            | "accept"
            | "supported"
            | "require"
            | "proxy-require"
            | "unsupported"
            | "accept-encoding"
            | "accept-language"
            | "content-encoding"
    )
}

/// Where the header section ends: the index just past CRLF CRLF (or LF LF, tolerated).
pub fn header_end(data: &[u8]) -> Option<usize> {
    let crlf = memchr::memmem::find(data, b"\r\n\r\n").map(|i| i + 4);
    let lf = memchr::memmem::find(data, b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Message {
    /// Parse the start line and headers; the body is everything after the blank line
    /// (the caller applies Content-Length, which differs between UDP and TCP).
    pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
        // Leading CRLFs before a message are keep-alives (RFC 3261 §7.5); skip them.
        let start = data
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(data.len());
        let data = &data[start..];
        let end = header_end(data).ok_or(ParseError::NoHeaderEnd)?;
        let head = std::str::from_utf8(&data[..end]).map_err(|_| {
            // A header section that is not UTF-8 still has to be answerable where possible:
            // replace bad octets (intmeth carries raw NUL, BEL, DEL inside a quoted string).
            ParseError::NotText
        });
        let owned;
        let head = match head {
            Ok(h) => h,
            Err(_) => {
                owned = String::from_utf8_lossy(&data[..end]).into_owned();
                &owned
            }
        };
        let mut lines = unfold(head);
        let first = lines
            .next()
            .ok_or_else(|| ParseError::StartLine(String::new()))?;
        let start = parse_start_line(&first)?;
        let mut headers = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ParseError::HeaderLine(line.clone()))?;
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(ParseError::HeaderLine(line.clone()));
            }
            headers.push(Header {
                name: canonical_name(name),
                value: value.trim().to_string(),
            });
        }
        Ok(Message {
            start,
            headers,
            body: Bytes::copy_from_slice(&data[end..]),
        })
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The first header of this (canonical, lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
    }

    /// How many header lines carry this name.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|h| h.name == name).count()
    }

    /// Every value of a header, list headers split at top-level commas.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .flat_map(move |h| {
                if is_list_header(name) {
                    split_commas(&h.value)
                } else {
                    vec![h.value.as_str()]
                }
            })
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("call-id")
    }

    /// CSeq number and method, when well formed.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("cseq")?;
        let mut parts = v.split_whitespace();
        let n = parts.next()?.parse().ok()?;
        let m = parts.next()?;
        parts.next().is_none().then_some((n, m))
    }

    pub fn top_via(&self) -> Option<Via> {
        self.header_values("via").next().and_then(Via::parse)
    }

    pub fn from(&self) -> Option<NameAddr> {
        self.header("from").and_then(NameAddr::parse)
    }

    pub fn to(&self) -> Option<NameAddr> {
        self.header("to").and_then(NameAddr::parse)
    }

    /// The user part of the From URI (the caller's number or extension).
    pub fn from_user(&self) -> Option<String> {
        self.from()
            .and_then(|f| SipUri::parse(&f.uri))
            .and_then(|u| u.user)
    }

    /// The user part of the To URI (a REGISTER's extension).
    pub fn to_user(&self) -> Option<String> {
        self.to()
            .and_then(|t| SipUri::parse(&t.uri))
            .and_then(|u| u.user)
            .filter(|u| !u.is_empty())
    }

    /// The number a request is for: the Request-URI's user part without its parameters.
    pub fn dialled_number(&self) -> Option<String> {
        self.request_uri()
            .and_then(SipUri::parse)
            .and_then(|u| u.user_number().map(str::to_string))
    }

    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub fn body_text(&self) -> Option<&str> {
        if self.body.is_empty() {
            None
        } else {
            std::str::from_utf8(&self.body).ok()
        }
    }

    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header {
            name: name.to_ascii_lowercase(),
            value: value.into(),
        });
    }

    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.headers.iter_mut().find(|h| h.name == name) {
            Some(h) => h.value = value,
            None => self.push_header(name, value),
        }
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|h| h.name != name);
    }

    /// Serialise with canonical header names and a Content-Length matching the body.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                let _ = write!(out, "{method} {uri} {version}\r\n");
            }
            StartLine::Response {
                version,
                code,
                reason,
            } => {
                let _ = write!(out, "{version} {code} {reason}\r\n");
            }
        }
        for h in &self.headers {
            if h.name == "content-length" {
                continue;
            }
            let _ = write!(out, "{}: {}\r\n", display_name(&h.name), h.value);
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        Bytes::from(bytes)
    }
}

/// `call-id` -> `Call-ID`, `www-authenticate` -> `WWW-Authenticate`, others Title-Case.
pub fn display_name(name: &str) -> String {
    match name {
        "call-id" => "Call-ID".into(),
        "cseq" => "CSeq".into(),
        "www-authenticate" => "WWW-Authenticate".into(),
        "mime-version" => "MIME-Version".into(),
        "min-se" => "Min-SE".into(),
        _ => name
            .split('-')
            .map(|part| {
                let mut c = part.chars();
                match c.next() {
                    Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Lines of the header section with continuation lines (starting with SP/HT) joined.
fn unfold(head: &str) -> impl Iterator<Item = String> + '_ {
    let mut out: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if (line.starts_with(' ') || line.starts_with('\t')) && !out.is_empty() {
            let last = out.last_mut().expect("checked non-empty");
            last.push(' ');
            last.push_str(line.trim_start());
        } else {
            out.push(line.to_string());
        }
    }
    out.into_iter()
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::StartLine(line.chars().take(120).collect());
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version_no, rest) = rest.split_once(' ').ok_or_else(bad)?;
        let (code, reason) = match rest.split_once(' ') {
            Some((c, r)) => (c, r),
            None => (rest, ""),
        };
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            version: format!("SIP/{version_no}"),
            code,
            reason: reason.to_string(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (exactly two single spaces).
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.bytes().all(is_token_char) || uri.is_empty() {
        return Err(bad());
    }
    if !version.starts_with("SIP/") {
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: Method::parse(method),
        uri: uri.to_string(),
        version: version.to_string(),
    })
}

/// Split at commas outside quotes and angle brackets.
pub fn split_commas(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, 0i32, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => angle -= 1,
            ',' if !quoted && angle <= 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:100@127.0.0.1 SIP/2.0\r\n\
v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\n\
f: <sip:a@b>;tag=x\r\n\
t: <sip:100@127.0.0.1>\r\n\
i: abc\r\n\
CSeq: 1\r\n INVITE\r\n\
Allow: INVITE, ACK,\r\n  BYE\r\n\
l: 4\r\n\
\r\n\
v=0\r\n";

    #[test]
    fn compact_forms_and_folding_are_understood() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.call_id(), Some("abc"));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(
            m.header_values("allow").collect::<Vec<_>>(),
            ["INVITE", "ACK", "BYE"]
        );
        assert_eq!(m.top_via().unwrap().branch.as_deref(), Some("z9hG4bK1"));
        assert_eq!(m.from().unwrap().tag(), Some("x"));
        assert_eq!(&m.body[..], b"v=0\r\n");
    }

    #[test]
    fn serialised_messages_parse_back_to_the_same() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        let again = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!(again.start, m.start);
        assert_eq!(again.call_id(), m.call_id());
        assert_eq!(again.header("allow"), m.header("allow"));
        assert_eq!(again.body, m.body);
        assert!(String::from_utf8_lossy(&m.to_bytes()).contains("Call-ID: abc\r\n"));
    }

    #[test]
    fn unknown_methods_are_kept() {
        let m = Message::parse(b"NEWMETHOD sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n").unwrap();
        assert_eq!(m.method(), Some(&Method::Other("NEWMETHOD".into())));
    }

    #[test]
    fn broken_start_lines_are_errors() {
        for bad in [
            "INVITE  sip:x SIP/2.0\r\n\r\n",
            "INVITE sip:x SIP/2.0 \r\n\r\n",
            "SIP/2.0 4294967301 Huge\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert!(Message::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert_eq!(
            Message::parse(b"INVITE sip:x SIP/2.0\r\n"),
            Err(ParseError::NoHeaderEnd)
        );
    }

    #[test]
    fn commas_inside_quotes_and_brackets_do_not_split() {
        assert_eq!(
            split_commas("\"a, b\" <sip:x;p=1,2>, <sip:y>"),
            ["\"a, b\" <sip:x;p=1,2>", " <sip:y>"]
        );
    }
}
