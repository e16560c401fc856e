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
//! `leg.rs`), no jitter buffer, no mixing. No RTCP either: RTCP is never relayed; each leg
//! keeps its own session (`rtcp.rs`) and counts relayed packets as its own sent stream.
//! Comfort noise (PT 13) and codecs other
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
#[path = "bridge_tests.rs"]
mod tests;
