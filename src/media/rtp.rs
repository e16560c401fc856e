//! RTP fixed header (RFC 3550 §5.1): a borrowing view for received packets and a writer into
//! caller-owned buffers. No allocation.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ssrc(pub u32);

/// A sequence number widened to 64 bits so nothing else deals with wrap-around.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// Widen a received 16-bit number relative to the highest seen so far (RFC 3550 A.1).
    pub fn extend(self, seq: u16) -> SeqNo {
        let last = self.0;
        let candidate = (last & !0xffff) | seq as u64;
        let best = [
            candidate.wrapping_sub(0x1_0000),
            candidate,
            candidate + 0x1_0000,
        ]
        .into_iter()
        .filter(|c| *c < u64::MAX / 2)
        .min_by_key(|c| c.abs_diff(last))
        .unwrap_or(candidate);
        SeqNo(best)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than an RTP header")]
    TooShort,
    #[error("RTP version is not 2")]
    Version,
    #[error("header extension or CSRC list runs past the packet")]
    Truncated,
    #[error("padding longer than the payload")]
    Padding,
}

/// A parsed view of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    pub fn parse(data: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if data.len() < 12 {
            return Err(RtpError::TooShort);
        }
        if data[0] >> 6 != 2 {
            return Err(RtpError::Version);
        }
        let csrc = (data[0] & 0x0f) as usize;
        let mut start = 12 + 4 * csrc;
        if data.len() < start {
            return Err(RtpError::Truncated);
        }
        if data[0] & 0x10 != 0 {
            if data.len() < start + 4 {
                return Err(RtpError::Truncated);
            }
            let words = u16::from_be_bytes([data[start + 2], data[start + 3]]) as usize;
            start += 4 + 4 * words;
            if data.len() < start {
                return Err(RtpError::Truncated);
            }
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            let pad = data[end - 1] as usize;
            if pad == 0 || start + pad > end {
                return Err(RtpError::Padding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7f,
            seq: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: Ssrc(u32::from_be_bytes([data[8], data[9], data[10], data[11]])),
            payload: &data[start..end],
        })
    }
}

/// Write a 12-byte header into `buf[..12]`.
pub fn write_header(buf: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: Ssrc) {
    buf[0] = 0x80;
    buf[1] = (pt & 0x7f) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.0.to_be_bytes());
}

/// For the fuzz target.
pub fn fuzz_rtp(data: &[u8]) {
    let _ = RtpPacket::parse(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn write_then_parse() {
        let mut buf = [0u8; 172];
        write_header(&mut buf, true, 8, 65535, 160, Ssrc(7));
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.seq, p.timestamp, p.ssrc),
            (8, 65535, 160, Ssrc(7))
        );
        assert_eq!(p.payload.len(), 160);
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        p.extend([0, 0, 0, 9]); // one CSRC
        p.extend([0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension, one word
        p.extend([0xaa, 0xbb]); // payload
        p.extend([0, 0, 3]); // padding of 3
        assert_eq!(RtpPacket::parse(&p).unwrap().payload, [0xaa, 0xbb]);
    }

    #[test]
    fn bad_packets_are_errors() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version));
        assert_eq!(RtpPacket::parse(&[0x8f; 20]), Err(RtpError::Truncated));
    }

    #[test]
    fn sequence_numbers_widen_across_wrap() {
        let s = SeqNo(65534);
        let s = s.extend(65535);
        assert_eq!(s, SeqNo(65535));
        let s = s.extend(0);
        assert_eq!(s, SeqNo(65536));
        assert_eq!(
            s.extend(65535),
            SeqNo(65535),
            "a late packet from before the wrap"
        );
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = RtpPacket::parse(&data);
        }

        #[test]
        fn widened_sequence_numbers_are_monotonic_for_in_order_input(start in any::<u16>(), n in 1usize..70000) {
            let mut s = SeqNo(start as u64);
            let mut seq = start;
            for _ in 0..n.min(3000) {
                seq = seq.wrapping_add(1);
                let next = s.extend(seq);
                prop_assert_eq!(next.0, s.0 + 1);
                s = next;
            }
        }
    }
}
