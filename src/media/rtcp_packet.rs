//! The RTCP wire format for [`super`]: compound SR/RR + SDES packets validated and read
//! without allocation (RFC 3550 §6.4, §6.5, A.2), NTP timestamps, RTCP/RTP demultiplexing
//! on one port (RFC 5761 §4). The session writes its own reports.

use std::time::Duration;

pub(super) const PT_SR: u8 = 200;
pub(super) const PT_RR: u8 = 201;
pub(super) const PT_SDES: u8 = 202;
pub(super) const SDES_CNAME: u8 = 1;

/// Whether a datagram on a muxed RTP port is RTCP (RFC 5761 §4: second octet 200–204).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && (200..=204).contains(&data[1])
}

/// A 64-bit NTP timestamp (RFC 5905 §6): seconds since 1900 in the high word, the
/// fraction of a second in the low word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct NtpTime(pub u64);

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch).
pub(super) const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

impl NtpTime {
    /// From the time since the Unix epoch.
    pub fn from_unix(since_epoch: Duration) -> NtpTime {
        let secs = since_epoch.as_secs() + NTP_UNIX_OFFSET;
        let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((secs << 32) | frac)
    }

    /// The middle 32 bits (16.16 fixed point): what LSR and A are made of (§6.4.1).
    pub fn middle(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

impl std::ops::Add<Duration> for NtpTime {
    type Output = NtpTime;

    fn add(self, d: Duration) -> NtpTime {
        let frac = (u128::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime(
            self.0
                .wrapping_add(d.as_secs() << 32)
                .wrapping_add(frac as u64),
        )
    }
}

/// A duration in 1/65536 s (DLSR, round trip) as a `Duration`.
pub(super) fn from_units(units: u32) -> Duration {
    Duration::from_nanos((u64::from(units) * 1_000_000_000) >> 16)
}

/// A `Duration` in 1/65536 s, saturating.
pub(super) fn to_units(d: Duration) -> u32 {
    let units = (d.as_nanos() << 16) / 1_000_000_000;
    units.min(u128::from(u32::MAX)) as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("shorter than an RTCP header")]
    TooShort,
    #[error("RTCP version is not 2")]
    Version,
    #[error("an RTCP length runs past the datagram")]
    Truncated,
    #[error("a compound RTCP packet must start with SR or RR")]
    NotReport,
    #[error("padding in an RTCP packet other than the last, or longer than it")]
    Padding,
}

/// What the peer says about a stream in one report block (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Lost since the sender's previous report, in 1/256.
    pub fraction_lost: u8,
    /// 24-bit signed on the wire.
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// In timestamp units.
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

/// The sender info of an SR (§6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderInfo {
    pub ntp: NtpTime,
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

/// A validated compound packet: its first SR or RR, and the CNAME if an SDES had one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    pub ssrc: u32,
    pub sender: Option<SenderInfo>,
    blocks: &'a [u8],
    pub cname: Option<&'a [u8]>,
}

impl<'a> Report<'a> {
    pub fn blocks(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.blocks.chunks_exact(24).map(|b| {
            let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let lost = word(4) & 0x00ff_ffff;
            ReportBlock {
                ssrc: word(0),
                fraction_lost: b[4],
                cumulative_lost: ((lost << 8) as i32) >> 8, // sign-extend 24 bits
                extended_highest_seq: word(8),
                jitter: word(12),
                lsr: word(16),
                dlsr: word(20),
            }
        })
    }
}

/// Validate a compound packet (RFC 3550 A.2: version 2 throughout, the lengths add up to
/// the datagram, padding only on the last packet, SR or RR first) and read its first
/// report. Other packet types (BYE, APP, XR) are skipped.
pub fn parse(data: &[u8]) -> Result<Report<'_>, RtcpError> {
    let mut report: Option<Report<'_>> = None;
    let mut rest = data;
    let mut first = true;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::TooShort);
        }
        if rest[0] >> 6 != 2 {
            return Err(RtcpError::Version);
        }
        let count = usize::from(rest[0] & 0x1f);
        let pt = rest[1];
        let len = 4 * (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1);
        if len > rest.len() {
            return Err(RtcpError::Truncated);
        }
        let (packet, next) = rest.split_at(len);
        let mut body = packet;
        if packet[0] & 0x20 != 0 {
            let pad = usize::from(packet[len - 1]);
            if !next.is_empty() || pad == 0 || pad > len - 4 {
                return Err(RtcpError::Padding);
            }
            body = &packet[..len - pad];
        }
        if first && pt != PT_SR && pt != PT_RR {
            return Err(RtcpError::NotReport);
        }
        first = false;
        match pt {
            PT_SR | PT_RR => {
                let info = if pt == PT_SR { 20 } else { 0 };
                let end = 8 + info + 24 * count;
                if body.len() < end {
                    return Err(RtcpError::Truncated);
                }
                let word =
                    |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
                if report.is_none() {
                    report = Some(Report {
                        ssrc: word(4),
                        sender: (pt == PT_SR).then(|| SenderInfo {
                            ntp: NtpTime((u64::from(word(8)) << 32) | u64::from(word(12))),
                            rtp_timestamp: word(16),
                            packets: word(20),
                            octets: word(24),
                        }),
                        blocks: &body[8 + info..end],
                        cname: None,
                    });
                }
            }
            PT_SDES => {
                let cname = sdes_cname(&body[4..], count)?;
                if let Some(r) = report.as_mut().filter(|r| r.cname.is_none()) {
                    r.cname = cname;
                }
            }
            _ => {}
        }
        rest = next;
    }
    report.ok_or(RtcpError::TooShort)
}

/// The first CNAME in `count` SDES chunks (§6.5); every chunk's items must fit.
fn sdes_cname(mut chunks: &[u8], count: usize) -> Result<Option<&[u8]>, RtcpError> {
    let mut cname = None;
    for _ in 0..count {
        if chunks.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let mut i = 4;
        loop {
            let Some(&kind) = chunks.get(i) else {
                return Err(RtcpError::Truncated);
            };
            if kind == 0 {
                i += 1;
                break;
            }
            let Some(&len) = chunks.get(i + 1) else {
                return Err(RtcpError::Truncated);
            };
            let text = chunks
                .get(i + 2..i + 2 + usize::from(len))
                .ok_or(RtcpError::Truncated)?;
            if kind == SDES_CNAME && cname.is_none() {
                cname = Some(text);
            }
            i += 2 + usize::from(len);
        }
        let padded = i.next_multiple_of(4);
        chunks = chunks.get(padded..).ok_or(RtcpError::Truncated)?;
    }
    Ok(cname)
}

/// For the fuzz target.
pub fn fuzz_rtcp(data: &[u8]) {
    if let Ok(r) = parse(data) {
        for _ in r.blocks() {}
    }
}
