//! Framing SIP over a byte stream (TCP), RFC 3261 §18.3: a message is its header section
//! and exactly Content-Length octets of body. Handles partial and pipelined reads, skips
//! CRLF keep-alives (RFC 5626 §3.5.1) and bounds its buffer. Sans-IO.

use bytes::{Buf, Bytes, BytesMut};

use crate::sip::message::{canonical_name, header_end};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Missing, repeated or invalid Content-Length: the stream cannot be framed. `head` is
    /// the header section, so the endpoint can still answer 400 before closing.
    #[error("cannot frame: missing or invalid Content-Length")]
    BadContentLength { head: Bytes },
    #[error("message larger than {0} octets")]
    TooLarge(usize),
}

pub struct StreamFramer {
    buf: BytesMut,
    max: usize,
}

impl StreamFramer {
    pub fn new(max_message: usize) -> Self {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            max: max_message,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, FramingError> {
        while self.buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
            self.buf.advance(1);
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some(head_len) = header_end(&self.buf) else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLarge(self.max));
            }
            return Ok(None);
        };
        let head = &self.buf[..head_len];
        let text = String::from_utf8_lossy(head);
        let mut lengths = text.lines().filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            (canonical_name(name.trim()) == "content-length").then(|| value.trim().to_string())
        });
        let declared = match (lengths.next(), lengths.next()) {
            (Some(v), None) => v.parse::<usize>().ok(),
            _ => None,
        };
        let Some(declared) = declared else {
            let head = self.buf.split_to(head_len).freeze();
            self.buf.clear();
            return Err(FramingError::BadContentLength { head });
        };
        // checked: a peer may declare any length, up to usize::MAX (found by the fuzzer).
        if head_len
            .checked_add(declared)
            .is_none_or(|total| total > self.max)
        {
            return Err(FramingError::TooLarge(self.max));
        }
        if self.buf.len() < head_len + declared {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(head_len + declared).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:x SIP/2.0\r\nl: 3\r\n\r\nabc";

    #[test]
    fn partial_reads_wait_for_the_whole_message() {
        let mut f = StreamFramer::new(65535);
        for chunk in MSG.chunks(5) {
            assert_eq!(f.next_message(), Ok(None));
            f.push(chunk);
        }
        assert_eq!(f.next_message().unwrap().as_deref(), Some(MSG));
        assert_eq!(f.next_message(), Ok(None));
    }

    #[test]
    fn pipelined_messages_and_keepalives_come_out_one_by_one() {
        let mut f = StreamFramer::new(65535);
        f.push(b"\r\n\r\n");
        f.push(MSG);
        f.push(b"\r\n");
        f.push(MSG);
        assert_eq!(f.next_message().unwrap().as_deref(), Some(MSG));
        assert_eq!(f.next_message().unwrap().as_deref(), Some(MSG));
        assert_eq!(f.next_message(), Ok(None));
    }

    #[test]
    fn missing_negative_or_double_content_length_cannot_be_framed() {
        for bad in [
            &b"INVITE sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\nbody"[..],
            b"INVITE sip:x SIP/2.0\r\nContent-Length: -999\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n",
        ] {
            let mut f = StreamFramer::new(65535);
            f.push(bad);
            assert!(matches!(
                f.next_message(),
                Err(FramingError::BadContentLength { .. })
            ));
        }
    }

    #[test]
    fn a_content_length_near_usize_max_is_refused_not_overflowed() {
        let mut f = StreamFramer::new(65535);
        f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::TooLarge(65535)));
    }

    #[test]
    fn oversize_input_is_refused() {
        let mut f = StreamFramer::new(100);
        f.push(&[b'a'; 200]);
        assert_eq!(f.next_message(), Err(FramingError::TooLarge(100)));
        let mut f = StreamFramer::new(100);
        f.push(b"INVITE sip:x SIP/2.0\r\nContent-Length: 5000\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::TooLarge(100)));
    }
}
