//! SIP: messages, screening, responses, transactions, framing (sans-IO cores), RFC 3261.
//!
//! The socket side is `crate::transport`; the endpoint that runs these cores is
//! `crate::endpoint`. Nothing here reads a clock or touches a socket.

pub mod digest;
pub mod framing;
pub mod message;
pub mod rate_limit;
pub mod refer;
pub mod registrar;
pub mod response;
pub mod screen;
pub mod session_timer;
pub mod transaction;
pub mod uac;
pub mod uri;

pub use message::{Message, Method};

/// For the fuzz target and the corpus replay test: screen the bytes as a datagram and as a
/// stream, frame them, build a response where one would be sent. Must never panic.
pub fn fuzz_parse(data: &[u8]) {
    use screen::{screen, Framing, Screened};
    for framing in [Framing::Datagram, Framing::Stream] {
        match screen(data, framing) {
            Screened::Request(r) => {
                let _ = response::response_for(&r, 200, "t").to_bytes();
                let _ = transaction::TxKey::of_request(&r, "INVITE");
                let _ = r.request_uri().and_then(uri::SipUri::parse);
            }
            Screened::Reject { request, error } => {
                let _ = response::response_for(&request, error.status(), "t").to_bytes();
            }
            Screened::Response(r) => {
                let _ = transaction::TxKey::of_response(&r);
            }
            Screened::Drop(_) => {}
        }
    }
    let mut framer = framing::StreamFramer::new(65_535);
    framer.push(data);
    while let Ok(Some(_)) = framer.next_message() {}
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    const INVITE: &[u8] = b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
            super::fuzz_parse(&data);
        }

        #[test]
        fn mutated_messages_never_panic(edits in prop::collection::vec((0usize..INVITE.len(), any::<u8>()), 1..12)) {
            let mut m = INVITE.to_vec();
            for (i, b) in edits {
                m[i] = b;
            }
            super::fuzz_parse(&m);
        }

        #[test]
        fn requests_round_trip_through_print_and_parse(
            user in "[0-9]{1,12}",
            tag in "[a-z0-9]{1,16}",
            cseq in 1u32..1_000_000,
        ) {
            let text = format!("OPTIONS sip:{user}@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{tag}\r\nFrom: <sip:a@h>;tag={tag}\r\nTo: <sip:{user}@h>\r\nCall-ID: {tag}\r\nCSeq: {cseq} OPTIONS\r\n\r\n");
            let m = super::Message::parse(text.as_bytes()).unwrap();
            let again = super::Message::parse(&m.to_bytes()).unwrap();
            prop_assert_eq!(&again.start, &m.start);
            prop_assert_eq!(again.cseq(), Some((cseq, "OPTIONS")));
            prop_assert_eq!(again.from().and_then(|f| f.tag().map(str::to_string)), Some(tag));
        }
    }
}
