//! RTCP for one media leg (RFC 3550 §6), sans-IO: reception statistics of the peer's stream,
//! our compound SR/RR + SDES reports, the peer's reports parsed, round-trip time.
//!
//! [`RtcpSession`] takes time as an argument (`Instant`) and derives NTP time from one
//! anchor given at construction (`Instant` ↔ wall clock as an [`NtpTime`]), so a report's NTP
//! timestamp moves with the same clock as everything else and round trips computed from our
//! own echoed timestamps are exact. Inputs: [`RtcpSession::handle_rtp_received`],
//! [`RtcpSession::handle_rtp_sent`], [`RtcpSession::handle_rtcp`]. Output:
//! [`RtcpSession::poll_transmit`] writes the compound report into a caller-owned buffer when
//! [`RtcpSession::poll_timeout`] has passed. Nothing allocates per packet.
//!
//! - **Reception** (RFC 3550 A.1, A.3, A.8): sequence numbers widened across wrap, a large
//!   jump accepted only when the next packet confirms it; cumulative loss (may be negative
//!   with duplicates, as the RFC says), fraction lost since the last report; interarrival
//!   jitter in timestamp units on the 8000 Hz G.711 clock. RFC 4733 packets repeat one
//!   timestamp per event, so they count for loss but not for jitter. No probation: the
//!   peer's stream was negotiated, its first packet is trusted. A new SSRC (or a resync
//!   after a jump) starts a new source; the leg's totals keep what the old one counted.
//! - **Reports** (§6.4): an SR when we sent RTP since the last report, else an RR; one
//!   report block about the peer's SSRC once it has sent RTP; then SDES with our CNAME
//!   (§6.1: every compound packet carries one). The CNAME is random per leg (RFC 7022).
//! - **Interval** (§6.3.1): fixed (5 s by default), each one randomised to 0.5–1.5× of it;
//!   the first report after half an interval (also randomised).
//! - **Round trip** (§6.4.1): from a report block about our SSRC,
//!   `A − LSR − DLSR` in 1/65536 s, where A is the middle 32 bits of our NTP time on
//!   arrival; ignored when LSR is 0 (the peer has had no SR from us) or the result is
//!   negative (clocks or a bogus block).

use std::time::{Duration, Instant};

use crate::media::rtp::RtpPacket;

#[path = "rtcp_packet.rs"]
mod packet;
#[cfg(test)]
use packet::NTP_UNIX_OFFSET;
use packet::{from_units, to_units, PT_RR, PT_SDES, PT_SR, SDES_CNAME};
pub use packet::{fuzz_rtcp, is_rtcp, parse, NtpTime, Report, ReportBlock, RtcpError, SenderInfo};

/// The G.711 RTP clock (RFC 3551 §4.5.14).
pub const CLOCK_RATE: u32 = 8000;
/// The default report interval (RFC 3550 §6.2's minimum).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// The largest compound packet [`RtcpSession::poll_transmit`] writes: SR (28) + one report
/// block (24) + SDES with a 16-byte CNAME (28).
pub const MAX_REPORT: usize = 80;

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// What a received sequence number did to a source.
enum SeqUpdate {
    Counted,
    /// A large jump, not counted; the next packet in sequence with it restarts the source.
    Suspect,
    /// The source restarted; these were its counts before.
    Restarted {
        expected: u32,
        received: u32,
    },
}

/// Reception state of one source (RFC 3550 A.1, A.3, A.8).
#[derive(Clone, Copy, Debug)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// The previous packet's transit time in timestamp units; `None` before the first.
    transit: Option<u32>,
    /// Jitter × 16 (A.8's integer form).
    jitter16: u32,
    /// The fraction lost computed at the last report, in 1/256.
    fraction: u8,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Source {
        let mut s = Source {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter16: 0,
            fraction: 0,
        };
        s.init_seq(seq);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1; // so seq == bad_seq is false
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// A.1 `update_seq` without probation.
    fn update_seq(&mut self, seq: u16) -> SeqUpdate {
        let udelta = seq.wrapping_sub(self.max_seq);
        let mut update = SeqUpdate::Counted;
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD); // wrapped
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) != self.bad_seq {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return SeqUpdate::Suspect;
            }
            // Two in a row after a jump: the peer restarted its sequence.
            update = SeqUpdate::Restarted {
                expected: self.expected(),
                received: self.received,
            };
            self.init_seq(seq);
        } // else a duplicate or reordered packet
        self.received += 1;
        update
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Cumulative lost (A.3); negative with duplicates.
    fn lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// A.3: the fraction lost since the previous call, in 1/256; moves the priors on.
    fn take_fraction(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        self.fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        self.fraction
    }

    /// A.8: `arrival` is the arrival time in timestamp units.
    fn update_jitter(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // J += (|D| − J) / 16, in J×16: J16 += |D| − J16/16 (rounded).
            self.jitter16 = self
                .jitter16
                .wrapping_add(d)
                .wrapping_sub((self.jitter16 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    fn jitter(&self) -> u32 {
        self.jitter16 >> 4
    }
}

/// What the peer last reported about our stream.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PeerReport {
    /// Lost since the peer's previous report, 0.0–1.0 (its 8-bit fraction / 256).
    pub fraction_lost: f32,
    /// Cumulative lost as the peer counts it.
    pub cumulative_lost: i32,
    pub jitter_ms: f32,
}

/// A leg's media quality, as the call driver gets it when the leg closes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LegQuality {
    /// RTP packets received from the peer (all its sources over the leg's life).
    pub packets_received: u64,
    /// Expected minus received (A.3), over the leg's life; negative with duplicates.
    pub packets_lost: i64,
    /// `packets_lost / expected` over the leg's life, 0.0–1.0.
    pub fraction_lost: f32,
    /// Interarrival jitter of the current source (A.8), in milliseconds.
    pub jitter_ms: f32,
    /// The last round trip measured from the peer's reports (§6.4.1), in milliseconds.
    pub round_trip_ms: Option<f32>,
    /// What the peer reported about our stream, if it sent a report block about it.
    pub peer: Option<PeerReport>,
}

/// Counters for the engine's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtcpStats {
    pub sent: u64,
    pub received: u64,
    /// Datagrams that were not valid compound RTCP.
    pub invalid: u64,
}

/// One leg's RTCP state. See the module doc.
pub struct RtcpSession {
    ssrc: u32,
    cname: [u8; 16],
    /// `Instant` ↔ NTP anchor.
    epoch: Instant,
    epoch_ntp: NtpTime,
    interval: Duration,
    next_report: Instant,
    rng: u64,
    source: Option<Source>,
    /// Received and lost by sources before the current one.
    past_received: u64,
    past_expected: u64,
    /// Our stream: totals for the SR, the last packet sent (for the SR's RTP timestamp).
    sent_packets: u32,
    sent_octets: u32,
    last_sent: Option<(Instant, u32)>,
    sent_since_report: bool,
    /// The peer's last SR: LSR (middle NTP bits) and when it arrived.
    last_sr: Option<(u32, Instant)>,
    round_trip: Option<Duration>,
    peer: Option<PeerReport>,
    pub stats: RtcpStats,
}

impl RtcpSession {
    /// `ntp` is the wall clock at `now`; `seed` randomises the CNAME and the intervals.
    pub fn new(now: Instant, ntp: NtpTime, ssrc: u32, interval: Duration, seed: u64) -> Self {
        let mut s = RtcpSession {
            ssrc,
            cname: [0; 16],
            epoch: now,
            epoch_ntp: ntp,
            interval,
            next_report: now,
            rng: seed | 1,
            source: None,
            past_received: 0,
            past_expected: 0,
            sent_packets: 0,
            sent_octets: 0,
            last_sent: None,
            sent_since_report: false,
            last_sr: None,
            round_trip: None,
            peer: None,
            stats: RtcpStats::default(),
        };
        let id = s.random();
        for (i, c) in s.cname.iter_mut().enumerate() {
            *c = b"0123456789abcdef"[((id >> (4 * i)) & 0xf) as usize];
        }
        s.next_report = now + s.randomised(interval / 2);
        s
    }

    pub fn cname(&self) -> &[u8] {
        &self.cname
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    /// The peer's RTP packet arrived at `now`. `sampled` is false for packets whose
    /// timestamp does not follow the sampling clock (RFC 4733 events): no jitter from them.
    pub fn handle_rtp_received(&mut self, now: Instant, packet: &RtpPacket<'_>, sampled: bool) {
        let ssrc = packet.ssrc.0;
        match self.source.as_mut() {
            Some(s) if s.ssrc == ssrc => match s.update_seq(packet.seq) {
                SeqUpdate::Counted => {}
                SeqUpdate::Suspect => return,
                SeqUpdate::Restarted { expected, received } => {
                    // The old run's counts stay in the leg's totals.
                    self.past_expected += u64::from(expected);
                    self.past_received += u64::from(received);
                }
            },
            _ => {
                if let Some(old) = self.source.take() {
                    self.past_expected += u64::from(old.expected());
                    self.past_received += u64::from(old.received);
                }
                let mut s = Source::new(ssrc, packet.seq);
                s.received = 1;
                self.source = Some(s);
            }
        }
        if sampled {
            let arrival = self.rtp_units(now);
            if let Some(s) = self.source.as_mut() {
                s.update_jitter(arrival, packet.timestamp);
            }
        }
    }

    /// We sent an RTP packet (a local frame or a relayed one) with this timestamp.
    pub fn handle_rtp_sent(&mut self, now: Instant, timestamp: u32, payload_len: usize) {
        self.sent_packets = self.sent_packets.wrapping_add(1);
        self.sent_octets = self.sent_octets.wrapping_add(payload_len as u32);
        self.last_sent = Some((now, timestamp));
        self.sent_since_report = true;
    }

    /// A datagram that should be RTCP arrived at `now`. Invalid ones are counted and
    /// returned as errors; nothing else changes.
    pub fn handle_rtcp(&mut self, now: Instant, data: &[u8]) -> Result<(), RtcpError> {
        let report = match parse(data) {
            Ok(r) => r,
            Err(e) => {
                self.stats.invalid += 1;
                return Err(e);
            }
        };
        self.stats.received += 1;
        if let Some(sr) = report.sender {
            self.last_sr = Some((sr.ntp.middle(), now));
        }
        for block in report.blocks().filter(|b| b.ssrc == self.ssrc) {
            self.peer = Some(PeerReport {
                fraction_lost: f32::from(block.fraction_lost) / 256.0,
                cumulative_lost: block.cumulative_lost,
                jitter_ms: block.jitter as f32 * 1000.0 / CLOCK_RATE as f32,
            });
            if block.lsr != 0 {
                let a = self.ntp(now).middle();
                let rtt = a.wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
                if rtt < 1 << 31 {
                    self.round_trip = Some(from_units(rtt));
                }
            }
        }
        Ok(())
    }

    /// When a report is due at `now`, write the compound packet into `buf` (at least
    /// [`MAX_REPORT`] bytes) and return its length, and schedule the next.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if now < self.next_report || buf.len() < MAX_REPORT {
            return None;
        }
        let next = self.randomised(self.interval);
        self.next_report = now + next;
        let n = self.write_report(now, buf);
        self.sent_since_report = false;
        self.stats.sent += 1;
        Some(n)
    }

    /// The quality summary now.
    pub fn quality(&self) -> LegQuality {
        let (received, expected, jitter) = match &self.source {
            Some(s) => (u64::from(s.received), u64::from(s.expected()), s.jitter()),
            None => (0, 0, 0),
        };
        let received = self.past_received + received;
        let expected = self.past_expected + expected;
        let lost = expected as i64 - received as i64;
        LegQuality {
            packets_received: received,
            packets_lost: lost,
            fraction_lost: if expected == 0 || lost <= 0 {
                0.0
            } else {
                lost as f32 / expected as f32
            },
            jitter_ms: jitter as f32 * 1000.0 / CLOCK_RATE as f32,
            round_trip_ms: self.round_trip.map(|d| d.as_secs_f32() * 1000.0),
            peer: self.peer,
        }
    }

    fn write_report(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        let ntp = self.ntp(now);
        let sender = self.sent_since_report;
        let blocks = usize::from(self.source.is_some());
        let words = if sender { 6 } else { 1 } + 6 * blocks; // length = words − 1 after header
        buf[0] = 0x80 | blocks as u8;
        buf[1] = if sender { PT_SR } else { PT_RR };
        buf[2..4].copy_from_slice(&(words as u16).to_be_bytes());
        buf[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = 8;
        if sender {
            let ts = self.last_sent.map_or(0, |(sent_at, ts)| {
                let elapsed = now.saturating_duration_since(sent_at);
                ts.wrapping_add(units_of(elapsed))
            });
            buf[8..16].copy_from_slice(&ntp.0.to_be_bytes());
            buf[16..20].copy_from_slice(&ts.to_be_bytes());
            buf[20..24].copy_from_slice(&self.sent_packets.to_be_bytes());
            buf[24..28].copy_from_slice(&self.sent_octets.to_be_bytes());
            at = 28;
        }
        let (lsr, dlsr) = self.last_sr.map_or((0, 0), |(lsr, arrived)| {
            (lsr, to_units(now.saturating_duration_since(arrived)))
        });
        if let Some(s) = self.source.as_mut() {
            let fraction = s.take_fraction();
            let lost = s.lost().clamp(-0x80_0000, 0x7f_ffff) as i32;
            let b = &mut buf[at..at + 24];
            b[0..4].copy_from_slice(&s.ssrc.to_be_bytes());
            b[4..8].copy_from_slice(
                &((lost as u32 & 0x00ff_ffff) | u32::from(fraction) << 24).to_be_bytes(),
            );
            b[8..12].copy_from_slice(&s.extended_max().to_be_bytes());
            b[12..16].copy_from_slice(&s.jitter().to_be_bytes());
            b[16..20].copy_from_slice(&lsr.to_be_bytes());
            b[20..24].copy_from_slice(&dlsr.to_be_bytes());
            at += 24;
        }
        // SDES: one chunk, CNAME (2 + 16 bytes), a null item, padded to 24 bytes of chunk.
        let sdes = &mut buf[at..at + 28];
        sdes[0] = 0x81;
        sdes[1] = PT_SDES;
        sdes[2..4].copy_from_slice(&6u16.to_be_bytes());
        sdes[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        sdes[8] = SDES_CNAME;
        sdes[9] = self.cname.len() as u8;
        sdes[10..26].copy_from_slice(&self.cname);
        sdes[26..28].fill(0);
        at + 28
    }

    /// NTP time at `now`, from the anchor.
    fn ntp(&self, now: Instant) -> NtpTime {
        self.epoch_ntp + now.saturating_duration_since(self.epoch)
    }

    /// `now` on the RTP clock since the anchor (wrapping), for jitter.
    fn rtp_units(&self, now: Instant) -> u32 {
        units_of(now.saturating_duration_since(self.epoch))
    }

    /// `d` × a random factor in [0.5, 1.5) (§6.3.1).
    fn randomised(&mut self, d: Duration) -> Duration {
        let r = self.random() >> 11; // 53 bits
        let factor = 0.5 + r as f64 / (1u64 << 53) as f64;
        d.mul_f64(factor)
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: enough to spread reports and name the leg.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A duration in RTP timestamp units (8000 Hz), wrapping at 2^32.
fn units_of(d: Duration) -> u32 {
    (d.as_nanos() * u128::from(CLOCK_RATE) / 1_000_000_000) as u32
}

#[cfg(test)]
#[path = "rtcp_tests.rs"]
mod tests;
