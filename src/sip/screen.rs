//! Screening: bytes from the network become a request for the application, a response for
//! the transaction layer, a rejection we answer, or a drop we only count. Sans-IO.
//!
//! The checks run in RFC 3261 §8.2 order after the syntax checks of §7, §18.3 and §20:
//! syntax and single-valued headers (400), version (505), method (501), Request-URI scheme
//! (416), `Require` (420), body type and `Accept` (415, 406), Max-Forwards (483). Every
//! mapping from a problem to a status code is in [`SipError::status`], nowhere else.
//! The application's own answers (405 for REGISTER, 481 for unknown dialogs…) are not here.

use crate::sip::message::{Message, Method, ParseError, StartLine};
use crate::sip::uri::NameAddr;

/// Methods this server implements (the `Allow` header of 405/501 and OPTIONS answers).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER";
/// Body types we understand (the `Accept` header).
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// Option tags we support: session timers (RFC 4028). A `Require` naming any other tag gets
/// 420 with the unknown ones in `Unsupported`.
pub const SUPPORTED: &str = "timer";

/// How the bytes arrived: datagrams carry exactly one message; streams were framed by
/// Content-Length already (RFC 3261 §18.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Datagram,
    Stream,
}

#[derive(Debug)]
pub enum Screened {
    Request(Message),
    Response(Message),
    /// Answer `request` with `error.status()` (and its extra headers), then forget it.
    Reject {
        request: Message,
        error: SipError,
    },
    Drop(DropReason),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("not a SIP message: {0}")]
    Unparseable(ParseError),
    #[error("malformed response: {0}")]
    BadResponse(&'static str),
}

/// A request we refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} must appear once")]
    RepeatedHeader(&'static str),
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    #[error("CSeq method {cseq} does not match request method {method}")]
    CseqMismatch { method: String, cseq: String },
    #[error("Content-Length {declared} but {available} octets of body")]
    BodyTooShort { declared: usize, available: usize },
    #[error("malformed Request-URI")]
    BadRequestUri,
    #[error("SIP version {0} is not supported")]
    Version(String),
    #[error("method {0} is not implemented")]
    UnknownMethod(String),
    #[error("URI scheme of {0:?} is not supported")]
    UnsupportedScheme(String),
    #[error("unsupported extensions required: {0}")]
    BadExtension(String),
    #[error("unsupported body type {0}")]
    UnsupportedMediaType(String),
    #[error("the request does not accept application/sdp")]
    NotAcceptable,
    #[error("Max-Forwards is 0")]
    TooManyHops,
}

impl SipError {
    /// The one place that maps errors to wire codes (STYLE.md §5).
    pub fn status(&self) -> u16 {
        match self {
            SipError::MissingHeader(_)
            | SipError::RepeatedHeader(_)
            | SipError::BadHeader(_)
            | SipError::CseqMismatch { .. }
            | SipError::BodyTooShort { .. }
            | SipError::BadRequestUri => 400,
            SipError::Version(_) => 505,
            SipError::UnknownMethod(_) => 501,
            SipError::UnsupportedScheme(_) => 416,
            SipError::BadExtension(_) => 420,
            SipError::UnsupportedMediaType(_) => 415,
            SipError::NotAcceptable => 406,
            SipError::TooManyHops => 483,
        }
    }

    /// Headers RFC 3261 requires in the answer (§8.2.1, §8.2.2.3, §8.2.3).
    pub fn extra_headers(&self) -> Vec<(&'static str, String)> {
        match self {
            SipError::UnknownMethod(_) => vec![("allow", ALLOW.into())],
            SipError::BadExtension(tokens) => vec![("unsupported", tokens.clone())],
            SipError::UnsupportedMediaType(_) => vec![("accept", ACCEPT.into())],
            SipError::NotAcceptable => vec![("accept", ACCEPT.into())],
            _ => vec![],
        }
    }
}

/// Headers that must appear at most once (RFC 3261 §7.3.1: not list-valued).
const SINGLE: [(&str, &str); 6] = [
    ("call-id", "Call-ID"),
    ("to", "To"),
    ("from", "From"),
    ("cseq", "CSeq"),
    ("max-forwards", "Max-Forwards"),
    ("content-length", "Content-Length"),
];

/// Screen one datagram or one framed stream message.
pub fn screen(data: &[u8], framing: Framing) -> Screened {
    let mut msg = match Message::parse(data) {
        Ok(m) => m,
        Err(e) => return Screened::Drop(DropReason::Unparseable(e)),
    };
    if !msg.is_request() {
        return screen_response(msg);
    }
    match check_request(&mut msg, framing) {
        Ok(()) => Screened::Request(msg),
        Err(error) => Screened::Reject {
            request: msg,
            error,
        },
    }
}

fn screen_response(msg: Message) -> Screened {
    for (name, _) in SINGLE {
        if msg.header_count(name) > 1 {
            return Screened::Drop(DropReason::BadResponse("repeated single-value header"));
        }
    }
    if msg.top_via().is_none() || msg.cseq().is_none() || msg.call_id().is_none() {
        return Screened::Drop(DropReason::BadResponse("missing Via, CSeq or Call-ID"));
    }
    Screened::Response(msg)
}

fn check_request(msg: &mut Message, framing: Framing) -> Result<(), SipError> {
    // §7 / §20: syntax of what every request needs, single-valued headers once.
    for (name, display) in SINGLE {
        if msg.header_count(name) > 1 {
            return Err(SipError::RepeatedHeader(display));
        }
    }
    if msg.header_count("via") == 0 {
        return Err(SipError::MissingHeader("Via"));
    }
    if msg
        .header_values("via")
        .any(|v| crate::sip::uri::Via::parse(v).is_none())
    {
        return Err(SipError::BadHeader("Via"));
    }
    for (name, display) in [
        ("call-id", "Call-ID"),
        ("from", "From"),
        ("to", "To"),
        ("cseq", "CSeq"),
    ] {
        if msg.header(name).is_none() {
            return Err(SipError::MissingHeader(display));
        }
    }
    if msg.from().is_none() {
        return Err(SipError::BadHeader("From"));
    }
    if msg.to().is_none() {
        return Err(SipError::BadHeader("To"));
    }
    for contact in msg.header_values("contact") {
        if contact != "*" && NameAddr::parse(contact).is_none() {
            return Err(SipError::BadHeader("Contact"));
        }
    }
    let (method, version, uri) = match &msg.start {
        StartLine::Request {
            method,
            version,
            uri,
        } => (method.clone(), version.clone(), uri.clone()),
        StartLine::Response { .. } => unreachable!("checked is_request"),
    };
    let Some(cseq_method) = msg.cseq().map(|(_, m)| m.to_string()) else {
        return Err(SipError::BadHeader("CSeq")); // also CSeq > 2^32-1 (scalar02)
    };
    if let Some(mf) = msg.header("max-forwards") {
        if mf.parse::<u8>().is_err() {
            return Err(SipError::BadHeader("Max-Forwards"));
        }
    }
    if let Some(exp) = msg.header("expires") {
        if exp.parse::<u32>().is_err() {
            return Err(SipError::BadHeader("Expires"));
        }
    }
    apply_content_length(msg, framing)?;
    if uri.starts_with('<') {
        return Err(SipError::BadRequestUri); // `<sip:…>` as a Request-URI (ltgtruri)
    }
    // §8.2 order from here on.
    if version != "SIP/2.0" {
        return Err(SipError::Version(version));
    }
    if let Method::Other(m) = &method {
        return Err(SipError::UnknownMethod(m.clone()));
    }
    // Headers in a Request-URI (escruri) are not allowed (RFC 3261 §19.1.5); they start at a
    // '?' after the host part. A '?' in the user part (intmeth) is just a character.
    if uri
        .rsplit('@')
        .next()
        .is_some_and(|host| host.contains('?'))
    {
        return Err(SipError::BadRequestUri);
    }
    if cseq_method != method.as_str() {
        return Err(SipError::CseqMismatch {
            method: method.to_string(),
            cseq: cseq_method.to_string(),
        });
    }
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return Err(SipError::UnsupportedScheme(uri));
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        let unknown: Vec<&str> = msg
            .header_values("require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty() && !supports(tag))
            .collect();
        if !unknown.is_empty() {
            return Err(SipError::BadExtension(unknown.join(", ")));
        }
    }
    if !msg.body.is_empty() && matches!(method, Method::Invite | Method::Ack | Method::Update) {
        match msg.content_type().as_deref() {
            Some("application/sdp") | None => {}
            Some(other) => return Err(SipError::UnsupportedMediaType(other.to_string())),
        }
    }
    if method == Method::Invite {
        let accepts: Vec<String> = msg
            .header_values("accept")
            .map(|a| {
                a.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .collect();
        let has_accept = msg.header_count("accept") > 0;
        if has_accept
            && !accepts
                .iter()
                .any(|a| a == "application/sdp" || a == "application/*" || a == "*/*")
        {
            return Err(SipError::NotAcceptable);
        }
    }
    // An endpoint answers OPTIONS with Max-Forwards 0 itself (RFC 3261 §11, corpus zeromf);
    // any other request that reached us with no hops left is refused.
    if msg.header("max-forwards") == Some("0") && method != Method::Options {
        return Err(SipError::TooManyHops);
    }
    Ok(())
}

/// True when `tag` is one of [`SUPPORTED`] (option tags compare case-insensitively).
pub fn supports(tag: &str) -> bool {
    SUPPORTED
        .split(',')
        .map(str::trim)
        .any(|s| !s.is_empty() && s.eq_ignore_ascii_case(tag))
}

/// RFC 3261 §18.3 and §20.14: cut the body to Content-Length. Over UDP a declared length
/// larger than the datagram is an error; no Content-Length means the body runs to the end.
fn apply_content_length(msg: &mut Message, framing: Framing) -> Result<(), SipError> {
    let Some(cl) = msg.header("content-length") else {
        return Ok(());
    };
    let declared: usize = cl
        .parse()
        .map_err(|_| SipError::BadHeader("Content-Length"))?;
    let available = msg.body.len();
    if declared > available {
        return Err(SipError::BodyTooShort {
            declared,
            available,
        });
    }
    if declared < available {
        if framing == Framing::Stream {
            // The framer cut exactly; anything else is a framing bug, treat as bad length.
            return Err(SipError::BadHeader("Content-Length"));
        }
        msg.body.truncate(declared); // dblreq: trailing octets in a datagram are ignored
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Screened {
        screen(text.replace('\n', "\r\n").as_bytes(), Framing::Datagram)
    }

    const BASE: &str = "OPTIONS sip:100@h SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:100@h>\nCall-ID: c1\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n";

    fn status(s: Screened) -> u16 {
        match s {
            Screened::Reject { error, .. } => error.status(),
            Screened::Request(_) => 0,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_passes() {
        assert_eq!(status(req(BASE)), 0);
    }

    #[test]
    fn require_timer_is_accepted_and_only_unknown_tags_are_named_in_unsupported() {
        let timer = BASE.replace("Max-Forwards: 70\n", "Max-Forwards: 70\nRequire: timer\n");
        assert_eq!(
            status(req(&timer)),
            0,
            "Require: timer (RFC 4028) is supported"
        );
        let mixed = BASE.replace(
            "Max-Forwards: 70\n",
            "Max-Forwards: 70\nRequire: Timer, 100rel\nRequire: foo\n",
        );
        match req(&mixed) {
            Screened::Reject { error, .. } => {
                assert_eq!(error.status(), 420);
                assert_eq!(
                    error.extra_headers(),
                    vec![("unsupported", "100rel, foo".to_string())]
                );
            }
            other => panic!("expected 420, got {other:?}"),
        }
    }

    #[test]
    fn each_rule_gives_its_code() {
        let cases = [
            (BASE.replace("Call-ID: c1\n", ""), 400),
            (
                BASE.replace("Call-ID: c1\n", "Call-ID: c1\nCall-ID: c2\n"),
                400,
            ),
            (
                BASE.replace("CSeq: 1 OPTIONS", "CSeq: 36893488147419103232 OPTIONS"),
                400,
            ),
            (BASE.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"), 400),
            (BASE.replace("SIP/2.0\nVia", "SIP/7.0\nVia"), 505),
            (
                BASE.replace("OPTIONS sip", "NEWMETHOD sip")
                    .replace("1 OPTIONS", "1 NEWMETHOD"),
                501,
            ),
            (BASE.replace("OPTIONS sip:100@h", "OPTIONS tel:100"), 416),
            (
                BASE.replace("Max-Forwards: 70\n", "Max-Forwards: 70\nRequire: foo\n"),
                420,
            ),
            (BASE.replace("Content-Length: 0", "Content-Length: 99"), 400),
            (BASE.replace("Content-Length: 0", "Content-Length: -1"), 400),
            (
                BASE.replace("Max-Forwards: 70\n", "Max-Forwards: 0\n")
                    .replace("OPTIONS", "INFO"),
                483,
            ),
        ];
        for (text, code) in cases {
            assert_eq!(status(req(&text)), code, "{text}");
        }
    }

    #[test]
    fn options_with_max_forwards_zero_is_answered() {
        assert_eq!(
            status(req(&BASE.replace("Max-Forwards: 70", "Max-Forwards: 0"))),
            0
        );
    }

    #[test]
    fn trailing_octets_in_a_datagram_are_cut_off() {
        let text = BASE.to_string() + "INVITE sip:x SIP/2.0\n\n";
        match req(&text) {
            Screened::Request(m) => assert!(m.body.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invite_body_type_and_accept_are_checked() {
        let invite = BASE.replace("OPTIONS", "INVITE").replace(
            "Content-Length: 0\n",
            "Content-Type: text/plain\nContent-Length: 2\n",
        ) + "hi";
        assert_eq!(status(req(&invite)), 415);
        let invite = BASE
            .replace("OPTIONS", "INVITE")
            .replace("Max-Forwards: 70\n", "Max-Forwards: 70\nAccept: text/x\n");
        assert_eq!(status(req(&invite)), 406);
    }

    #[test]
    fn responses_pass_and_garbage_drops() {
        let r = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\nCSeq: 1 BYE\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=2\n\n";
        assert!(matches!(req(r), Screened::Response(_)));
        assert!(matches!(req("hello"), Screened::Drop(_)));
    }
}
