//! Building responses and routing them back (RFC 3261 §8.2.6, §18.2.2; RFC 3581). Sans-IO.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::sip::message::{Header, Message, StartLine};
use crate::sip::uri::{host_ip, Via};

/// The standard reason phrase of a status code we send.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        408 => "Request Timeout",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// A random token for To tags (and anything else that must be unique).
pub fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// 503 Service Unavailable with Retry-After (overload, shutting down, a source's rate, no
/// media, a database that does not answer).
pub fn unavailable(request: &Message, retry_after: u32) -> Message {
    let mut resp = response_for(request, 503, &new_tag());
    resp.push_header("retry-after", retry_after.to_string());
    resp
}

/// A response to `request`: every Via, From, To, Call-ID and CSeq copied (§8.2.6.2); a To
/// tag added when the request had none and the code is above 100.
pub fn response_for(request: &Message, code: u16, to_tag: &str) -> Message {
    let mut headers = Vec::with_capacity(8);
    for h in &request.headers {
        if matches!(h.name.as_str(), "via" | "from" | "call-id" | "cseq") {
            headers.push(h.clone());
        } else if h.name == "to" {
            let mut value = h.value.clone();
            if code > 100 && !has_tag(&value) && !to_tag.is_empty() {
                value.push_str(";tag=");
                value.push_str(to_tag);
            }
            headers.push(Header {
                name: "to".into(),
                value,
            });
        }
    }
    if code == 488 {
        // RFC 3261 §21.4.26: 488 SHOULD say why in a Warning; 305 is "Incompatible media
        // format" (§20.43), the only reason we send 488.
        headers.push(Header {
            name: "warning".into(),
            value: "305 qonyrau \"Incompatible media format\"".into(),
        });
    }
    Message {
        start: StartLine::Response {
            version: "SIP/2.0".into(),
            code,
            reason: reason(code).into(),
        },
        headers,
        body: Bytes::new(),
    }
}

fn has_tag(to: &str) -> bool {
    // The tag is a header param after the URI (after '>' for name-addr).
    let params = match to.rfind('>') {
        Some(i) => &to[i..],
        None => to,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// RFC 3261 §18.2.1 + RFC 3581 §4: record where a request really came from in its top Via.
pub fn stamp_via(request: &mut Message, source: SocketAddr) {
    let Some(h) = request.headers.iter_mut().find(|h| h.name == "via") else {
        return;
    };
    // Only the first value of the first Via line is ours to stamp.
    let (first, rest) = match crate::sip::message::split_commas(&h.value).as_slice() {
        [first, rest @ ..] => (first.to_string(), rest.join(",")),
        [] => return,
    };
    let Some(via) = Via::parse(&first) else {
        return;
    };
    let mut stamped = first.trim().to_string();
    let same_host = host_ip(&via.host) == Some(source.ip());
    if !same_host && via.received.is_none() {
        stamped.push_str(&format!(";received={}", source.ip()));
    }
    if via.rport == Some(None) {
        stamped = stamped.replacen(";rport", &format!(";rport={}", source.port()), 1);
        if !stamped.contains(";received=") {
            stamped.push_str(&format!(";received={}", source.ip()));
        }
    }
    h.value = if rest.is_empty() {
        stamped
    } else {
        format!("{stamped},{rest}")
    };
}

/// Where an unreliable-transport response goes (RFC 3261 §18.2.2, RFC 3581 §4): the
/// `received` address (or the source) and the `rport`, else the Via port, else 5060. Takes
/// the response, or the request it answers (after `stamp_via`): both have the same top Via.
pub fn response_target(response: &Message, source: SocketAddr) -> SocketAddr {
    let Some(via) = response.top_via() else {
        return source;
    };
    if let Some(Some(port)) = via.rport {
        let ip = via
            .received
            .as_deref()
            .and_then(host_ip)
            .unwrap_or(source.ip());
        return SocketAddr::new(ip, port);
    }
    let ip = via
        .received
        .as_deref()
        .and_then(host_ip)
        .or_else(|| host_ip(&via.host))
        .unwrap_or(source.ip());
    SocketAddr::new(ip, via.port.unwrap_or(5060))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Message {
        Message::parse(
            b"INVITE sip:100@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK0\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:100@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.1>\r\n\r\n",
        )
        .unwrap()
    }

    #[test]
    fn a_response_copies_the_dialog_headers_and_tags_to() {
        let r = response_for(&invite(), 180, "srv1");
        assert_eq!(r.status(), Some(180));
        assert_eq!(r.header_count("via"), 2);
        assert_eq!(r.to().unwrap().tag(), Some("srv1"));
        assert_eq!(r.header("contact"), None);
        let trying = response_for(&invite(), 100, "srv1");
        assert_eq!(trying.to().unwrap().tag(), None);
    }

    #[test]
    fn a_488_says_why_in_a_warning() {
        let r = response_for(&invite(), 488, "t");
        assert_eq!(
            r.header("warning"),
            Some("305 qonyrau \"Incompatible media format\"")
        );
        assert!(response_for(&invite(), 486, "t")
            .header("warning")
            .is_none());
    }

    #[test]
    fn rport_and_received_route_the_response_back_to_the_source() {
        let mut req = invite();
        let source: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        stamp_via(&mut req, source);
        let via = req.top_via().unwrap();
        assert_eq!(via.rport, Some(Some(40000)));
        assert_eq!(via.received.as_deref(), Some("127.0.0.1"));
        let r = response_for(&req, 200, "t");
        assert_eq!(response_target(&r, source), source);
    }

    #[test]
    fn without_rport_the_via_port_is_used() {
        let req = Message::parse(
            b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\n\r\n",
        )
        .unwrap();
        let r = response_for(&req, 200, "t");
        assert_eq!(
            response_target(&r, "127.0.0.1:1234".parse().unwrap()),
            "127.0.0.1:5999".parse().unwrap()
        );
    }
}
