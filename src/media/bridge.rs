//! One leg's outbound RTP stream, whatever feeds it: prompts and music on hold generated
//! locally on a 20 ms grid, or bridged audio relayed packet by packet from the other leg.
//!
//! [`OutboundStream`] owns the only state the peer can observe (RFC 3550 §5.1): one SSRC, a
//! sequence number that goes up by one per packet sent, and a timestamp on the 8000 Hz G.711
//! clock that moves with elapsed time. Every change of source is a *switch*: the next packet
//! continues the sequence at `last + 1`, its timestamp continues from the last packet sent
//! plus the wall-clock time since then, and it carries the marker bit (RFC 3551 §4.1: first
//! packet after a discontinuity). Inputs are events with time as an argument:
//!
//! - [`OutboundStream::local_frame`] for a frame the caller generates (prompt, music on hold):
//!   it returns the [`Header`] to write. Consecutive frames advance the timestamp by the
//!   previous frame's samples; a gap of more than [`PAUSE_TOLERANCE`] beyond that (the leg
//!   sent nothing for a while) is treated as a switch.
//! - [`OutboundStream::relay`] for a packet received on the other leg: parsed, rewritten into
//!   a caller-owned buffer with this stream's SSRC, sequence and timestamp bases, PCMU↔PCMA
//!   transcoded through 256-byte tables when the legs negotiated different codecs, RFC 4733
//!   telephone events passed through with their payload type rewritten. The first relayed
//!   packet after a switch (or after the input SSRC changes) fixes an offset
//!   `out = in + offset` for sequence numbers and timestamps, so loss and reordering upstream
//!   stay visible downstream and every packet of one telephone event keeps one timestamp.
//! - [`OutboundStream::switch`] when the caller changes between two local sources (prompt →
//!   music on hold) or renegotiates; local ↔ relay switches are detected implicitly.
//!
//! # Timestamp rule on a switch
//!
//! `ts = max(anchor_ts + elapsed·8000, floor)`, where `anchor_ts` is the position of the
//! furthest-ahead packet sent so far and `elapsed` the time since it was sent (rounded to the
//! nearest sample), and `floor` is the first sample not covered by any packet already sent
//! (`ts + payload samples`; for a telephone event, `start + duration`). So a switch never
//! overlaps media already sent, and the jump equals the wall-clock gap when there is one.
//!
//! # The hot path
//!
//! `relay` allocates nothing, takes no lock and makes no syscall: it reads a borrowed packet,
//! writes into `dst`, and consults two `LazyLock` tables that [`OutboundStream::new`] forces,
//! so afterwards each lookup is one atomic load. Drops are counted in [`OutboundStats`], never
//! logged here.
//!
//! # What this module does not do
//!
//! No sockets, no clock, no pacing (the caller decides when a local frame is due, see
//! `leg.rs`), no jitter buffer, no RTCP, no mixing. Comfort noise (PT 13) and codecs other
//! than the negotiated G.711 are dropped, not translated.
//!
//! # A third leg (conference, whisper, barge-in)
//!
//! Relaying is for exactly two legs. With a third, a mixer decodes the inputs, sums them on
//! the 20 ms grid and encodes one frame per listener; each listener's frame goes out through
//! that listener's `local_frame`, which is already the path prompts use. Switching a leg from
//! bridged to mixed is then an ordinary relay → local switch: `OutboundStream` does not change,
//! only what the caller feeds it.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use crate::media::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};
use crate::media::rtp::{write_header, RtpPacket, SeqNo, Ssrc};

/// The G.711 clock rate (RFC 3551 §4.5.14).
const CLOCK_RATE: u64 = 8000;
const HEADER: usize = 12;

/// How much longer than the previous frame's duration the gap before a local frame may be
/// and still count as continuous. Above the pacer's worst burst (`leg.rs`: 3 late frames of
/// 20 ms), so waking late is not a pause, while a leg that stopped sending is.
pub const PAUSE_TOLERANCE: Duration = Duration::from_millis(100);

/// A G.711 law (ITU-T G.711); one byte per sample at 8000 Hz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum G711 {
    Pcmu,
    Pcma,
}

impl G711 {
    /// The static payload type (RFC 3551 §6, table 4): PCMU 0, PCMA 8.
    pub const fn static_payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }
}

/// What one leg negotiated: its audio codec and payload type, and the RFC 4733
/// `telephone-event` payload type if it offered one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadMap {
    pub audio: G711,
    pub audio_pt: u8,
    pub telephone_event: Option<u8>,
}

/// The header fields of the next packet, for a frame the caller writes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: Ssrc,
}

impl Header {
    /// Write these fields with payload type `pt` into `buf[..12]`; `buf` must hold 12 bytes.
    pub fn write(&self, buf: &mut [u8], pt: u8) {
        write_header(buf, self.marker, pt, self.seq, self.timestamp, self.ssrc);
    }
}

/// What [`OutboundStream::relay`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relayed {
    /// This many bytes of `dst` form the packet to send.
    Sent(usize),
    Dropped(DropReason),
}

/// Why a relayed packet was not sent. Each is counted in [`OutboundStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not RTP (RFC 3550 §5.1), or a telephone event shorter than its 4-byte payload
    /// (RFC 4733 §2.3).
    Malformed,
    /// Neither the source leg's audio nor its telephone-event payload type: comfort noise
    /// (PT 13), another codec.
    UnknownPayload,
    /// A telephone event, but the destination leg did not negotiate `telephone-event`.
    NoTelephoneEvent,
    /// `dst` cannot hold a 12-byte header and the payload.
    BufferTooSmall,
    /// Belongs before the last switch: a packet older than the first one relayed since, or
    /// a continuation of a telephone event that began before it. Its sequence number or
    /// event timestamp would repeat one already sent, so the receiver would see a duplicate
    /// or a second digit.
    BeforeSwitch,
}

/// Counters for metrics; plain fields, read whenever the caller likes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundStats {
    /// Headers handed out by [`OutboundStream::local_frame`].
    pub local: u64,
    pub relayed: u64,
    pub malformed: u64,
    pub unknown_payload: u64,
    pub no_telephone_event: u64,
    pub buffer_too_small: u64,
    pub before_switch: u64,
}

/// `ULAW_TO_ALAW[u]` is the A-law code nearest µ-law code `u` (through 16-bit linear).
pub static ULAW_TO_ALAW: LazyLock<[u8; 256]> =
    LazyLock::new(|| transcode_table(ulaw_to_linear, linear_to_alaw));
/// `ALAW_TO_ULAW[a]` is the µ-law code nearest A-law code `a`.
pub static ALAW_TO_ULAW: LazyLock<[u8; 256]> =
    LazyLock::new(|| transcode_table(alaw_to_linear, linear_to_ulaw));

fn transcode_table(decode: fn(u8) -> i16, encode: fn(i16) -> u8) -> [u8; 256] {
    let mut t = [0u8; 256];
    for (code, out) in (0..=255u8).zip(t.iter_mut()) {
        *out = encode(decode(code));
    }
    t
}

/// What fed the last packet, and for relay how input numbers map to ours.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// Nothing yet, or [`OutboundStream::switch`] was called: the next packet is a switch.
    Switched,
    Local,
    Relay(RelayMap),
}

/// `out = in + offset` for one input SSRC since the last switch.
#[derive(Clone, Copy, Debug)]
struct RelayMap {
    ssrc: Ssrc,
    /// The first input packet relayed since the switch, widened; anything older is refused.
    first_in: SeqNo,
    /// The highest input sequence number relayed, widened; the reference for `extend`.
    highest_in: SeqNo,
    /// Output sequence number of `first_in`.
    first_out: u16,
    ts_offset: u32,
    /// Input timestamp of the first packet; telephone events starting earlier began
    /// before the switch.
    first_ts_in: u32,
}

/// The single owner of one leg's outbound RTP stream state. See the module doc.
#[derive(Debug)]
pub struct OutboundStream {
    ssrc: Ssrc,
    /// Highest sequence number sent (the one before `initial_seq` until the first packet).
    last_seq: u16,
    /// Position of the furthest-ahead packet sent, and when it was sent.
    anchor_ts: u32,
    anchor_at: Instant,
    /// First sample not covered by any packet sent.
    floor_ts: u32,
    source: Source,
    pub stats: OutboundStats,
}

impl OutboundStream {
    /// `ssrc`, `initial_seq` and `initial_ts` should be random (RFC 3550 §5.1). The first
    /// packet carries `initial_seq`, the marker, and `initial_ts` plus the time since `now`.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32, now: Instant) -> OutboundStream {
        // Build the tables here, at leg setup, so `relay` never runs their initialiser.
        LazyLock::force(&ULAW_TO_ALAW);
        LazyLock::force(&ALAW_TO_ULAW);
        OutboundStream {
            ssrc: Ssrc(ssrc),
            last_seq: initial_seq.wrapping_sub(1),
            anchor_ts: initial_ts,
            anchor_at: now,
            floor_ts: initial_ts,
            source: Source::Switched,
            stats: OutboundStats::default(),
        }
    }

    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Treat the next packet as coming from a new source (marker, timestamp from elapsed
    /// time), e.g. prompt → music on hold, or after a re-INVITE. Switches between
    /// `local_frame` and `relay` need no call.
    pub fn switch(&mut self) {
        self.source = Source::Switched;
    }

    /// Header for a locally generated frame of `samples` samples about to be sent at `now`.
    /// The caller must send it: the sequence number is consumed.
    ///
    /// The timestamp is the previous local frame's plus its samples, unless the previous
    /// packet was relayed, [`switch`](Self::switch) was called, or the gap since the previous
    /// packet exceeds its duration by more than [`PAUSE_TOLERANCE`]: then it follows the
    /// switch rule of the module doc (elapsed time, never overlapping media already sent)
    /// and the marker is set.
    pub fn local_frame(&mut self, now: Instant, samples: u32) -> Header {
        let clock = self.clock_at(now);
        let continuous = matches!(self.source, Source::Local)
            && serial_diff(clock, self.floor_ts) <= samples_in(PAUSE_TOLERANCE) as i32;
        let timestamp = if continuous {
            self.floor_ts
        } else {
            self.switch_timestamp(now)
        };
        self.source = Source::Local;
        self.last_seq = self.last_seq.wrapping_add(1);
        self.record_sent(now, timestamp, timestamp.wrapping_add(samples));
        self.stats.local += 1;
        Header {
            marker: !continuous,
            seq: self.last_seq,
            timestamp,
            ssrc: self.ssrc,
        }
    }

    /// Rewrite `input`, received from the leg that negotiated `from`, into `dst` as this
    /// stream's next packet toward a peer that negotiated `to`. On `Sent(n)` send
    /// `dst[..n]`; on `Dropped` nothing changed but a counter.
    ///
    /// The output has a plain 12-byte header (input CSRCs, extension and padding are not
    /// kept), this stream's SSRC, `to`'s payload type, and the input's marker bit except on
    /// the first packet after a switch or an input SSRC change, which always has it.
    pub fn relay(
        &mut self,
        now: Instant,
        input: &[u8],
        from: &PayloadMap,
        to: &PayloadMap,
        dst: &mut [u8],
    ) -> Relayed {
        match self.try_relay(now, input, from, to, dst) {
            Ok(len) => {
                self.stats.relayed += 1;
                Relayed::Sent(len)
            }
            Err(reason) => {
                let counter = match reason {
                    DropReason::Malformed => &mut self.stats.malformed,
                    DropReason::UnknownPayload => &mut self.stats.unknown_payload,
                    DropReason::NoTelephoneEvent => &mut self.stats.no_telephone_event,
                    DropReason::BufferTooSmall => &mut self.stats.buffer_too_small,
                    DropReason::BeforeSwitch => &mut self.stats.before_switch,
                };
                *counter += 1;
                Relayed::Dropped(reason)
            }
        }
    }

    /// Everything is checked before any state changes, so a drop leaves the stream as it was.
    fn try_relay(
        &mut self,
        now: Instant,
        input: &[u8],
        from: &PayloadMap,
        to: &PayloadMap,
        dst: &mut [u8],
    ) -> Result<usize, DropReason> {
        let packet = RtpPacket::parse(input).map_err(|_| DropReason::Malformed)?;
        let kind = if packet.payload_type == from.audio_pt {
            Kind::Audio
        } else if Some(packet.payload_type) == from.telephone_event {
            if packet.payload.len() < 4 {
                return Err(DropReason::Malformed);
            }
            // RFC 4733 §2.3.5: the duration so far, in timestamp units, from the event start.
            let duration = u16::from_be_bytes([packet.payload[2], packet.payload[3]]);
            Kind::Event { duration }
        } else {
            return Err(DropReason::UnknownPayload);
        };
        let out_pt = match kind {
            Kind::Audio => to.audio_pt,
            Kind::Event { .. } => to.telephone_event.ok_or(DropReason::NoTelephoneEvent)?,
        };
        let len = HEADER + packet.payload.len();
        if dst.len() < len {
            return Err(DropReason::BufferTooSmall);
        }
        // Where this packet sits on the input clock: an event's timestamp is its start, but
        // the packet reports the event as of `start + duration`.
        let (position_in, span) = match kind {
            Kind::Audio => (packet.timestamp, packet.payload.len() as u32),
            Kind::Event { duration } => (packet.timestamp.wrapping_add(duration.into()), 0),
        };

        let (map, seq, marker) = match self.source {
            Source::Relay(map) if map.ssrc == packet.ssrc => {
                let ext = map.highest_in.extend(packet.seq);
                let event_began_before = matches!(kind, Kind::Event { .. })
                    && serial_diff(packet.timestamp, map.first_ts_in) < 0;
                if ext < map.first_in || event_began_before {
                    return Err(DropReason::BeforeSwitch);
                }
                let seq = map.first_out.wrapping_add((ext.0 - map.first_in.0) as u16);
                let map = RelayMap {
                    highest_in: map.highest_in.max(ext),
                    ..map
                };
                (map, seq, packet.marker)
            }
            _ => {
                // A switch, or the peer restarted its stream (new SSRC): rebase. A telephone
                // event already under way cannot start one: its start timestamp would map
                // before media we have sent, and the receiver may have seen part of it.
                if matches!(kind, Kind::Event { .. }) && !packet.marker {
                    return Err(DropReason::BeforeSwitch);
                }
                let seq = self.last_seq.wrapping_add(1);
                // Start one cycle in, so a late packet from just before the first one widens
                // to a smaller number instead of wrapping far ahead.
                let first_in = SeqNo(0x1_0000 | u64::from(packet.seq));
                let map = RelayMap {
                    ssrc: packet.ssrc,
                    first_in,
                    highest_in: first_in,
                    first_out: seq,
                    ts_offset: self.switch_timestamp(now).wrapping_sub(position_in),
                    first_ts_in: packet.timestamp,
                };
                (map, seq, true)
            }
        };

        let timestamp = packet.timestamp.wrapping_add(map.ts_offset);
        write_header(dst, marker, out_pt, seq, timestamp, self.ssrc);
        let payload = &mut dst[HEADER..len];
        match (kind, from.audio, to.audio) {
            (Kind::Audio, G711::Pcmu, G711::Pcma) => {
                transcode(packet.payload, payload, &ULAW_TO_ALAW)
            }
            (Kind::Audio, G711::Pcma, G711::Pcmu) => {
                transcode(packet.payload, payload, &ALAW_TO_ULAW)
            }
            _ => payload.copy_from_slice(packet.payload),
        }

        // The highest number sent, exactly, however far the input jumped.
        self.last_seq = map
            .first_out
            .wrapping_add((map.highest_in.0 - map.first_in.0) as u16);
        self.source = Source::Relay(map);
        let position = position_in.wrapping_add(map.ts_offset);
        self.record_sent(now, position, position.wrapping_add(span));
        Ok(len)
    }

    /// The stream clock at `now`, extrapolated from the furthest-ahead packet sent.
    fn clock_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.anchor_at);
        self.anchor_ts.wrapping_add(samples_in(elapsed))
    }

    /// Timestamp of the first packet after a switch (module doc).
    fn switch_timestamp(&self, now: Instant) -> u32 {
        let clock = self.clock_at(now);
        if serial_diff(clock, self.floor_ts) >= 0 {
            clock
        } else {
            self.floor_ts
        }
    }

    /// A packet whose media sits at `position..end` on our clock went out at `now`. Late
    /// (reordered) packets move neither the anchor nor the floor back.
    fn record_sent(&mut self, now: Instant, position: u32, end: u32) {
        if serial_diff(position, self.anchor_ts) >= 0 {
            self.anchor_ts = position;
            self.anchor_at = now;
        }
        if serial_diff(end, self.floor_ts) > 0 {
            self.floor_ts = end;
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Audio,
    Event { duration: u16 },
}

fn transcode(src: &[u8], dst: &mut [u8], table: &[u8; 256]) {
    for (out, code) in dst.iter_mut().zip(src) {
        *out = table[usize::from(*code)];
    }
}

/// Samples at 8000 Hz in `d`, rounded to nearest, modulo 2^32 like an RTP timestamp.
fn samples_in(d: Duration) -> u32 {
    ((d.as_nanos() * u128::from(CLOCK_RATE) + 500_000_000) / 1_000_000_000) as u32
}

/// `a - b` in serial-number arithmetic (RFC 1982): positive when `a` is ahead.
trait Serial: Copy {
    fn diff(self, other: Self) -> i32;
}
impl Serial for u32 {
    fn diff(self, other: u32) -> i32 {
        self.wrapping_sub(other) as i32
    }
}
impl Serial for u16 {
    fn diff(self, other: u16) -> i32 {
        i32::from(self.wrapping_sub(other) as i16)
    }
}
fn serial_diff<T: Serial>(a: T, b: T) -> i32 {
    a.diff(b)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);
    const PCMU: PayloadMap = PayloadMap {
        audio: G711::Pcmu,
        audio_pt: 0,
        telephone_event: Some(101),
    };
    const PCMA: PayloadMap = PayloadMap {
        audio: G711::Pcma,
        audio_pt: 8,
        telephone_event: Some(96),
    };
    const PCMA_NO_EVENTS: PayloadMap = PayloadMap {
        telephone_event: None,
        ..PCMA
    };

    fn packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0; HEADER + payload.len()];
        write_header(&mut p, marker, pt, seq, ts, Ssrc(ssrc));
        p[HEADER..].copy_from_slice(payload);
        p
    }

    fn audio(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        packet(0, false, seq, ts, ssrc, &[0x55; 160])
    }

    /// RFC 4733 §2.3: event, E bit + volume, duration.
    fn event(marker: bool, seq: u16, start: u32, end: bool, duration: u16) -> Vec<u8> {
        let d = duration.to_be_bytes();
        let e = if end { 0x80 | 10 } else { 10 };
        packet(101, marker, seq, start, 0xe0e0, &[5, e, d[0], d[1]])
    }

    /// Relay and parse the output, which must have been sent.
    fn relay_ok(
        s: &mut OutboundStream,
        now: Instant,
        input: &[u8],
        from: &PayloadMap,
        to: &PayloadMap,
    ) -> (bool, u8, u16, u32, Ssrc, Vec<u8>) {
        let mut dst = [0u8; 300];
        let Relayed::Sent(n) = s.relay(now, input, from, to, &mut dst) else {
            panic!("dropped: {:?}", s.relay(now, input, from, to, &mut dst));
        };
        let p = RtpPacket::parse(&dst[..n]).unwrap();
        (
            p.marker,
            p.payload_type,
            p.seq,
            p.timestamp,
            p.ssrc,
            p.payload.to_vec(),
        )
    }

    fn relay_seq(s: &mut OutboundStream, now: Instant, input: &[u8]) -> u16 {
        relay_ok(s, now, input, &PCMU, &PCMU).2
    }

    #[test]
    fn prompt_then_bridge_then_hold_music_is_one_continuous_stream() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(0xabcd, 65533, 4_294_967_000, t0);
        let mut out = vec![]; // (ms, marker, seq, ts, ssrc)
        for i in 0..3u32 {
            let h = s.local_frame(t0 + MS * 20 * i, 160);
            out.push((20 * i, h.marker, h.seq, h.timestamp, h.ssrc));
        }
        for i in 0..5u32 {
            let at = 20 * (3 + i);
            let input = audio(40_000 + i as u16, 123_456_789 + 160 * i, 0x5eed);
            let (m, pt, seq, ts, ssrc, _) = relay_ok(&mut s, t0 + MS * at, &input, &PCMU, &PCMU);
            assert_eq!(pt, 0);
            out.push((at, m, seq, ts, ssrc));
        }
        for i in 0..3u32 {
            let at = 20 * (8 + i);
            let h = s.local_frame(t0 + MS * at, 160);
            out.push((at, h.marker, h.seq, h.timestamp, h.ssrc));
        }

        assert_eq!(out.len(), 11);
        for w in out.windows(2) {
            assert_eq!(w[1].2, w[0].2.wrapping_add(1), "consecutive seq: {out:?}");
            let jump = w[1].3.wrapping_sub(w[0].3) as i64;
            assert!(jump > 0, "timestamps increase: {out:?}");
            let elapsed = i64::from(w[1].0 - w[0].0) * 8;
            assert!((jump - elapsed).abs() <= 160, "jump {jump} for {elapsed}");
        }
        assert!(out.iter().all(|p| p.4 == Ssrc(0xabcd)));
        let markers: Vec<usize> = (0..11).filter(|i| out[*i].1).collect();
        assert_eq!(markers, [0, 3, 8], "first packet and each switch: {out:?}");
        assert_eq!((out[0].2, out[0].3), (65533, 4_294_967_000));
        assert_eq!(s.stats.local, 6);
        assert_eq!(s.stats.relayed, 5);
    }

    #[test]
    fn a_gap_in_input_sequence_numbers_is_kept_in_the_output() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 500, 0, t0);
        s.local_frame(t0, 160);
        let seqs: Vec<u16> = [10u16, 11, 13]
            .iter()
            .enumerate()
            .map(|(i, q)| relay_seq(&mut s, t0 + MS * 20 * (i as u32 + 1), &audio(*q, 0, 9)))
            .collect();
        assert_eq!(seqs, [501, 502, 504]);
        assert_eq!(s.local_frame(t0 + MS * 100, 160).seq, 505);
    }

    #[test]
    fn reordered_input_keeps_its_sequence_difference() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 500, 0, t0);
        let seqs: Vec<u16> = [(9u16, 0u32), (11, 320), (10, 160), (12, 480)]
            .iter()
            .map(|(q, ts)| relay_ok(&mut s, t0, &audio(*q, *ts, 9), &PCMU, &PCMU))
            .map(|p| p.2)
            .collect();
        assert_eq!(seqs, [500, 502, 501, 503]);
    }

    #[test]
    fn packets_from_before_the_switch_are_dropped() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 500, 0, t0);
        s.local_frame(t0, 160);
        assert_eq!(relay_seq(&mut s, t0 + MS * 20, &audio(11, 160, 9)), 501);
        let mut dst = [0u8; 200];
        assert_eq!(
            s.relay(t0 + MS * 21, &audio(10, 0, 9), &PCMU, &PCMU, &mut dst),
            Relayed::Dropped(DropReason::BeforeSwitch),
            "mapping it would resend seq 500"
        );
        assert_eq!(s.stats.before_switch, 1);
        assert_eq!(relay_seq(&mut s, t0 + MS * 40, &audio(12, 320, 9)), 502);
    }

    #[test]
    fn an_input_ssrc_change_rebases_with_a_marker() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 1000, t0);
        let a = relay_ok(&mut s, t0, &audio(100, 50_000, 7), &PCMU, &PCMU);
        let b = relay_ok(&mut s, t0 + MS * 20, &audio(101, 50_160, 7), &PCMU, &PCMU);
        let c = relay_ok(&mut s, t0 + MS * 40, &audio(9, 3, 8), &PCMU, &PCMU);
        let d = relay_ok(&mut s, t0 + MS * 60, &audio(10, 163, 8), &PCMU, &PCMU);
        assert_eq!((a.0, b.0, c.0, d.0), (true, false, true, false));
        assert_eq!([a.2, b.2, c.2, d.2], [0, 1, 2, 3]);
        assert_eq!([a.3, b.3, c.3, d.3], [1000, 1160, 1320, 1480]);
    }

    #[test]
    fn pcmu_to_pcma_payload_is_the_table_mapping_of_each_byte() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let all: Vec<u8> = (0..=255).collect();
        let out = relay_ok(&mut s, t0, &packet(0, false, 1, 0, 7, &all), &PCMU, &PCMA);
        assert_eq!(out.1, 8, "payload type of the destination");
        let expected: Vec<u8> = all.iter().map(|u| ULAW_TO_ALAW[*u as usize]).collect();
        assert_eq!(out.5, expected);
        let back = relay_ok(&mut s, t0, &packet(8, false, 2, 256, 7, &all), &PCMA, &PCMU);
        let expected: Vec<u8> = all.iter().map(|a| ALAW_TO_ULAW[*a as usize]).collect();
        assert_eq!((back.1, back.5), (0, expected));
    }

    #[test]
    fn pcmu_pcma_pcmu_round_trip_stays_within_one_quantization_step() {
        for u in 0..=255u8 {
            let x = i32::from(ulaw_to_linear(u));
            let y = i32::from(ulaw_to_linear(
                ALAW_TO_ULAW[ULAW_TO_ALAW[u as usize] as usize],
            ));
            // µ-law step in x's segment: 8 << exponent (G.711 table 2a).
            let step = 8 << ((!u >> 4) & 7);
            assert!((x - y).abs() <= step, "{u:#x}: {x} -> {y}, step {step}");
        }
    }

    #[test]
    fn same_codec_payload_is_copied_byte_exact() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            relay_ok(&mut s, t0, &packet(0, false, 1, 0, 7, &all), &PCMU, &PCMU).5,
            all
        );
        let alaw = PayloadMap {
            audio_pt: 8,
            ..PCMA
        };
        let p = relay_ok(&mut s, t0, &packet(8, false, 2, 256, 7, &all), &alaw, &PCMA);
        assert_eq!(p.5, all);
    }

    #[test]
    fn dynamic_audio_payload_types_are_rewritten() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let from = PayloadMap {
            audio_pt: 112,
            ..PCMU
        };
        let to = PayloadMap {
            audio_pt: 97,
            ..PCMU
        };
        let p = relay_ok(
            &mut s,
            t0,
            &packet(112, false, 1, 0, 7, &[1, 2]),
            &from,
            &to,
        );
        assert_eq!((p.1, p.5), (97, vec![1, 2]));
    }

    #[test]
    fn telephone_events_pass_through_with_the_pt_rewritten_and_one_timestamp() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let mut ts = vec![];
        relay_ok(
            &mut s,
            t0,
            &packet(0, false, 1, 8000, 0xe0e0, &[0xff; 160]),
            &PCMU,
            &PCMA,
        );
        let inputs = [
            event(true, 2, 8160, false, 160),
            event(false, 3, 8160, false, 320),
            event(false, 4, 8160, true, 480),
            event(false, 5, 8160, true, 480),
            event(false, 6, 8160, true, 480),
        ];
        for (i, e) in inputs.iter().enumerate() {
            let p = relay_ok(&mut s, t0 + MS * 20 * (i as u32 + 1), e, &PCMU, &PCMA);
            assert_eq!(p.1, 96);
            assert_eq!(p.5, &e[HEADER..], "payload untouched");
            assert_eq!(p.0, i == 0, "marker from the input");
            ts.push(p.3);
        }
        assert_eq!(ts, [160; 5], "every packet of the event carries its start");
        let audio_after = relay_ok(&mut s, t0 + MS * 120, &audio(7, 8800, 0xe0e0), &PCMU, &PCMA);
        assert_eq!(audio_after.3, 800);
    }

    #[test]
    fn telephone_events_are_dropped_when_the_destination_did_not_negotiate_them() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let mut dst = [0u8; 200];
        assert_eq!(
            s.relay(
                t0,
                &event(true, 1, 0, false, 160),
                &PCMU,
                &PCMA_NO_EVENTS,
                &mut dst
            ),
            Relayed::Dropped(DropReason::NoTelephoneEvent)
        );
        assert_eq!(s.stats.no_telephone_event, 1);
    }

    #[test]
    fn a_telephone_event_under_way_at_a_switch_is_dropped() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let mut dst = [0u8; 200];
        assert_eq!(
            s.relay(t0, &event(false, 3, 0, false, 320), &PCMU, &PCMA, &mut dst),
            Relayed::Dropped(DropReason::BeforeSwitch),
            "continuation without its start"
        );
        relay_ok(&mut s, t0, &audio(4, 400, 0xe0e0), &PCMU, &PCMA);
        assert_eq!(
            s.relay(t0, &event(false, 5, 0, true, 480), &PCMU, &PCMA, &mut dst),
            Relayed::Dropped(DropReason::BeforeSwitch),
            "began before the first relayed packet"
        );
        assert_eq!(s.stats.before_switch, 2);
    }

    #[test]
    fn comfort_noise_and_other_payload_types_are_dropped() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let mut dst = [0u8; 200];
        for pt in [13, 8, 18, 96] {
            assert_eq!(
                s.relay(
                    t0,
                    &packet(pt, false, 1, 0, 7, &[0; 10]),
                    &PCMU,
                    &PCMA,
                    &mut dst
                ),
                Relayed::Dropped(DropReason::UnknownPayload),
                "pt {pt}"
            );
        }
        assert_eq!(s.stats.unknown_payload, 4);
    }

    #[test]
    fn every_truncation_of_a_valid_packet_is_dropped_or_sent_without_panic() {
        let t0 = Instant::now();
        let valid = audio(1, 0, 7);
        let ev = event(true, 1, 0, false, 160);
        for len in 0..40 {
            for input in [&valid, &ev] {
                let mut s = OutboundStream::new(1, 0, 0, t0);
                let mut dst = [0u8; 200];
                let r = s.relay(t0, &input[..len.min(input.len())], &PCMU, &PCMA, &mut dst);
                match len {
                    0..12 => assert_eq!(r, Relayed::Dropped(DropReason::Malformed), "{len}"),
                    _ if input == &ev && len < 16 => {
                        assert_eq!(r, Relayed::Dropped(DropReason::Malformed), "{len}")
                    }
                    _ => assert_eq!(r, Relayed::Sent(len.min(input.len())), "{len}"),
                }
            }
        }
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let mut dst = [0u8; 200];
        for junk in [
            &[0x40u8; 12][..],
            &[0x8f; 20],
            &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(
                s.relay(t0, junk, &PCMU, &PCMA, &mut dst),
                Relayed::Dropped(DropReason::Malformed)
            );
        }
        assert_eq!(s.stats.malformed, 3);
    }

    #[test]
    fn a_too_small_dst_drops_the_packet_and_keeps_the_stream_unchanged() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        let input = audio(1, 0, 7);
        for size in [0, 11, 12, 171] {
            let mut dst = vec![0u8; size];
            assert_eq!(
                s.relay(t0, &input, &PCMU, &PCMU, &mut dst),
                Relayed::Dropped(DropReason::BufferTooSmall)
            );
        }
        assert_eq!(s.stats.buffer_too_small, 4);
        let mut dst = [0u8; 172];
        assert_eq!(
            s.relay(t0, &input, &PCMU, &PCMU, &mut dst),
            Relayed::Sent(172)
        );
        let p = RtpPacket::parse(&dst).unwrap();
        assert_eq!((p.marker, p.seq), (true, 0), "still the first packet");
    }

    #[test]
    fn sequence_numbers_wrap_in_input_and_output() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 65534, 0, t0);
        let seqs: Vec<u16> = [65534u16, 65535, 0, 1]
            .iter()
            .enumerate()
            .map(|(i, q)| {
                relay_seq(
                    &mut s,
                    t0 + MS * 20 * i as u32,
                    &audio(*q, 160 * i as u32, 7),
                )
            })
            .collect();
        assert_eq!(seqs, [65534, 65535, 0, 1]);
        let mut s = OutboundStream::new(1, 65535, 0, t0);
        let seqs: Vec<u16> = [65534u16, 65535, 0]
            .iter()
            .enumerate()
            .map(|(i, q)| {
                relay_seq(
                    &mut s,
                    t0 + MS * 20 * i as u32,
                    &audio(*q, 160 * i as u32, 7),
                )
            })
            .collect();
        assert_eq!(seqs, [65535, 0, 1]);
        assert_eq!(s.local_frame(t0 + MS * 60, 160).seq, 2);
    }

    #[test]
    fn local_frames_after_a_pause_jump_by_the_elapsed_time_with_a_marker() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        s.local_frame(t0, 160);
        let h = s.local_frame(t0 + MS * 20 + Duration::from_secs(2), 160);
        assert_eq!((h.marker, h.seq, h.timestamp), (true, 1, 16_160));
    }

    #[test]
    fn local_frames_sent_late_in_a_burst_continue_without_a_marker() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        s.local_frame(t0, 160);
        let late = t0 + MS * 80; // frames due at 20, 40 and 60 ms
        let ts: Vec<(bool, u32)> = (0..3)
            .map(|_| s.local_frame(late, 160))
            .map(|h| (h.marker, h.timestamp))
            .collect();
        assert_eq!(ts, [(false, 160), (false, 320), (false, 480)]);
    }

    #[test]
    fn switch_marks_the_change_between_two_local_sources() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        s.local_frame(t0, 160);
        assert!(!s.local_frame(t0 + MS * 20, 160).marker);
        s.switch();
        let h = s.local_frame(t0 + MS * 40, 160);
        assert_eq!((h.marker, h.seq, h.timestamp), (true, 2, 320));
    }

    #[test]
    fn a_switch_never_overlaps_media_already_sent() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0, t0);
        s.local_frame(t0, 160);
        let p = relay_ok(&mut s, t0, &audio(5, 777, 7), &PCMU, &PCMU);
        assert_eq!(
            (p.0, p.3),
            (true, 160),
            "no time passed, but frame 0 covers 0..160"
        );
    }

    proptest! {
        /// Any interleaving of local frames and in-order relayed runs (each with its own
        /// SSRC and numbering) gives consecutive sequence numbers and rising timestamps.
        #[test]
        fn in_order_sources_give_one_continuous_stream(
            ops in prop::collection::vec((any::<bool>(), 1u32..5, any::<u16>(), any::<u32>(), 0u64..3000), 1..40),
            seq0 in any::<u16>(),
            ts0 in any::<u32>(),
        ) {
            let t0 = Instant::now();
            let mut s = OutboundStream::new(1, seq0, ts0, t0);
            let mut now = t0;
            let mut out: Vec<(u16, u32)> = vec![];
            for (i, (local, n, in_seq, in_ts, gap_ms)) in ops.into_iter().enumerate() {
                now += MS * gap_ms as u32;
                for k in 0..n {
                    if local {
                        let h = s.local_frame(now, 160);
                        out.push((h.seq, h.timestamp));
                    } else {
                        let input = audio(in_seq.wrapping_add(k as u16), in_ts.wrapping_add(160 * k), i as u32);
                        let p = relay_ok(&mut s, now, &input, &PCMU, &PCMU);
                        out.push((p.2, p.3));
                    }
                    now += MS * 20;
                }
            }
            prop_assert_eq!(out[0].0, seq0);
            for w in out.windows(2) {
                prop_assert_eq!(w[1].0, w[0].0.wrapping_add(1));
                prop_assert!(serial_diff(w[1].1, w[0].1) >= 160, "{:?}", w);
            }
        }
    }
}
