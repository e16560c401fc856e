//! Qualifying contacts, sans-IO: every registered contact is sent an OPTIONS now and then
//! (RFC 3261 §11); any response at all — even 404 or 501 — proves a phone is there, and
//! only silence until the transaction times out (Timer F) marks the contact unreachable, so
//! calls skip it until it answers again or registers anew. The endpoint sends the requests
//! and reports outcomes; the location cache keeps the verdicts.

use std::net::SocketAddr;

use crate::sip::message::Message;
use crate::sip::registrar::Reach;

/// One contact to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub extension: String,
    pub contact: String,
    pub reach: Reach,
}

/// How a probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    Answered(u16),
    TimedOut,
}

/// Whether a probe's outcome shows the contact can be called.
pub fn reachable(result: ProbeResult) -> bool {
    matches!(result, ProbeResult::Answered(_))
}

/// The OPTIONS for a probe. `token` makes the branch, tag and Call-ID unique.
pub fn options_request(probe: &Probe, local: SocketAddr, token: &str, user_agent: &str) -> Message {
    let transport = match probe.reach {
        Reach::Udp(_) => "UDP",
        Reach::Tcp { .. } => "TCP",
    };
    let text = format!(
        "OPTIONS {contact} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bKq{token};rport\r\nMax-Forwards: 70\r\nFrom: <sip:qonyrau@{local}>;tag=q{token}\r\nTo: <{contact}>\r\nCall-ID: q{token}@qonyrau\r\nCSeq: 1 OPTIONS\r\nUser-Agent: {user_agent}\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n",
        contact = probe.contact,
    );
    Message::parse(text.as_bytes()).expect("a well-formed OPTIONS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_answer_means_reachable_and_only_silence_unreachable() {
        assert!(reachable(ProbeResult::Answered(200)));
        assert!(reachable(ProbeResult::Answered(501)));
        assert!(!reachable(ProbeResult::TimedOut));
    }

    #[test]
    fn the_options_request_targets_the_contact_over_its_transport() {
        let p = Probe {
            extension: "2001".into(),
            contact: "sip:2001@127.0.0.1:25090".into(),
            reach: Reach::Tcp {
                source: "127.0.0.1:40000".parse().unwrap(),
                conn: 3,
            },
        };
        let m = options_request(&p, "127.0.0.1:5060".parse().unwrap(), "abc", "Qonyrau/test");
        assert_eq!(m.request_uri(), Some("sip:2001@127.0.0.1:25090"));
        assert_eq!(m.cseq(), Some((1, "OPTIONS")));
        assert!(m
            .header("via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKqabc"));
    }
}
