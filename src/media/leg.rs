//! One call's RTP leg, sans-IO: what to send when (drift-free 20 ms pacing from a start
//! instant; prompts, music on hold or silence; nothing local while bridged), and what a
//! received packet means (RFC 4733 digits, in-band digits, liveness, symmetric RTP).
//!
//! The engine owns the socket and the clock; it asks [`Leg::poll_transmit`] for due frames,
//! feeds [`Leg::handle_rtp_from`] with received packets and, while the leg is bridged, hands
//! the other leg's packets to [`Leg::relay`]. Every packet the leg sends, local or relayed,
//! goes through one [`OutboundStream`]: one SSRC, one sequence, a marker on each switch
//! (prompt → music on hold → bridged audio → …). Nothing here allocates per packet: the play
//! queue is built when a `Play` command arrives, music on hold loops over prompts shared by
//! the engine, frames are written into the engine's buffer, and events go into a queue with
//! room reserved up front.
//!
//! # Symmetric RTP (RFC 4961 §4, "latching")
//!
//! A caller behind a NAT announces a private address in its SDP, and its packets arrive from
//! the NAT's public one. So the first valid RTP packet after `Start` or `Update` fixes where
//! we send: if it came from another IP address than the SDP's, we send there (address and
//! port) from then on. A first packet from the SDP's own IP keeps the SDP's address even when
//! its port differs: the peer told the truth about where it is, and a host that sends from
//! one port and listens on the announced one (test tools, some gateways) must keep
//! receiving there. Only once per `Start`/`Update`: a later packet from another address (a
//! stray, or someone racing the real peer) does not move the stream again.
//!
//! # RTCP (RFC 3550 §6, [`crate::media::rtcp`])
//!
//! Every leg keeps its own RTCP session, bridged or not: reception statistics of the peer's
//! RTP, our SR/RR + SDES reports (from [`Leg::poll_rtcp`], to [`Leg::rtcp_remote`]), the
//! peer's reports (round trip, what it saw of our stream). RTCP is never relayed to the
//! other leg of a bridge: each leg reports on the stream it receives and sends. With
//! rtcp-mux (RFC 5761) RTCP shares the RTP socket and address, told apart by its second
//! octet (200–204); otherwise it arrives on the engine's second socket (RTP port + 1) and
//! goes to the peer's RTCP port, latched like RTP on the first valid report after
//! `Start`/`Update`. [`Leg::quality`] sums it up; the engine sends it as
//! [`LegEvent::Quality`] when the leg closes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ivr::PlayId;
use crate::media::bridge::{OutboundStats, OutboundStream, PayloadMap, Relayed, G711};
use crate::media::dtmf::{Digit, DigitSource, Rfc4733Receiver};
use crate::media::g711::{alaw_to_linear, ulaw_to_linear, ALAW_SILENCE, ULAW_SILENCE};
use crate::media::inband::InbandDetector;
use crate::media::prompt::Prompt;
use crate::media::rtcp::{is_rtcp, LegQuality, NtpTime, RtcpSession, RtcpStats, REPORT_INTERVAL};
use crate::media::rtp::{RtpPacket, Ssrc};
use crate::sdp::{Codec, Direction, Negotiated};

pub const PTIME: Duration = Duration::from_millis(20);
pub const FRAME: usize = 160;
/// 12-byte header + 160 bytes of G.711.
pub const PACKET: usize = 12 + FRAME;
/// When the engine wakes late, at most this many overdue frames are sent; the rest are
/// skipped (counted), so a stall does not turn into a burst.
pub const MAX_BURST: u32 = 3;

#[derive(Clone, Debug, PartialEq)]
pub enum LegEvent {
    /// Every prompt of this play has been sent.
    PromptDone(PlayId),
    Digit(Digit, DigitSource),
    /// No RTP from the caller for the configured time.
    RtpTimeout,
    /// The leg's media quality over its life; the last event of a leg, sent once when it
    /// closes (see `LegHandle::close`).
    /// Boxed: sent once a leg, and inline it would triple the size of every slot of every
    /// leg's event channel (docs/BENCHMARKS.md, memory per call).
    Quality(Box<LegQuality>),
}

/// Counters the engine exports as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegStats {
    pub sent: u64,
    pub received: u64,
    pub skipped: u64,
}

/// Music on hold: the engine's prompts, looped; where the next frame starts.
struct Moh {
    prompts: Arc<[Arc<Prompt>]>,
    index: usize,
    offset: usize,
}

pub struct Leg {
    out: OutboundStream,
    /// Frame n is due at `start + n·20 ms`.
    start: Instant,
    next_frame: u64,
    codec: Codec,
    telephone_event: Option<u8>,
    map: PayloadMap,
    remote: SocketAddr,
    /// The first valid packet since `Start`/`Update` has fixed `remote` (module doc).
    latched: bool,
    direction: Direction,
    queue: VecDeque<Arc<Prompt>>,
    offset: usize,
    playing: Option<PlayId>,
    moh: Option<Moh>,
    /// Linked to another leg: no local frames; the engine relays the other leg's packets.
    bridged: bool,
    rfc4733: Rfc4733Receiver,
    inband: Option<InbandDetector>,
    pcm: [i16; FRAME],
    last_rx: Instant,
    rtp_timeout: Option<Duration>,
    timed_out: bool,
    events: VecDeque<LegEvent>,
    pub stats: LegStats,
    rtcp: RtcpSession,
    /// Where RTCP goes when not muxed: the SDP's RTCP address, or where the peer's first
    /// report came from (latched like RTP).
    rtcp_remote: SocketAddr,
    rtcp_latched: bool,
    rtcp_mux: bool,
}

fn payload_map(n: &Negotiated) -> PayloadMap {
    PayloadMap {
        audio: match n.codec {
            Codec::Pcmu => G711::Pcmu,
            Codec::Pcma => G711::Pcma,
        },
        audio_pt: n.codec.payload_type(),
        telephone_event: n.telephone_event,
    }
}

impl Leg {
    /// `start` is the instant of the first frame (the engine aligns it to its tick grid);
    /// `ssrc` and the initial sequence number and timestamp should be random (RFC 3550 §5.1).
    pub fn new(
        start: Instant,
        ssrc: u32,
        initial_seq: u16,
        initial_ts: u32,
        negotiated: &Negotiated,
        inband: bool,
        rtp_timeout: Option<Duration>,
    ) -> Leg {
        Leg {
            out: OutboundStream::new(ssrc, initial_seq, initial_ts, start),
            start,
            next_frame: 0,
            codec: negotiated.codec,
            telephone_event: negotiated.telephone_event,
            map: payload_map(negotiated),
            remote: negotiated.remote,
            latched: false,
            direction: negotiated.direction,
            queue: VecDeque::with_capacity(8),
            offset: 0,
            playing: None,
            moh: None,
            bridged: false,
            rfc4733: Rfc4733Receiver::default(),
            inband: inband.then(InbandDetector::default),
            pcm: [0; FRAME],
            last_rx: start,
            rtp_timeout,
            timed_out: false,
            events: VecDeque::with_capacity(16),
            stats: LegStats::default(),
            // NTP from the leg's start until `with_rtcp` gives the wall clock.
            rtcp: RtcpSession::new(
                start,
                NtpTime::default(),
                ssrc,
                REPORT_INTERVAL,
                ssrc.into(),
            ),
            rtcp_remote: negotiated.rtcp_remote(),
            rtcp_latched: false,
            rtcp_mux: negotiated.rtcp_mux,
        }
    }

    /// Set up RTCP: `ntp` is the wall clock at the leg's start instant, `interval` the report
    /// interval (randomised, RFC 3550 §6.3.1), `seed` random (CNAME, intervals).
    pub fn with_rtcp(mut self, ntp: NtpTime, interval: Duration, seed: u64) -> Leg {
        self.rtcp = RtcpSession::new(self.start, ntp, self.out.ssrc().0, interval, seed);
        self
    }

    /// Where RTCP goes: the RTP address when muxed, else the peer's RTCP address.
    pub fn rtcp_remote(&self) -> SocketAddr {
        if self.rtcp_mux {
            self.remote
        } else {
            self.rtcp_remote
        }
    }

    /// Whether RTCP shares the RTP socket (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.rtcp_mux
    }

    /// Write our compound RTCP report into `buf` (at least
    /// [`MAX_REPORT`](crate::media::rtcp::MAX_REPORT) bytes) when one is due; the caller
    /// sends it to [`Leg::rtcp_remote`], from the RTP socket when [`Leg::rtcp_mux`].
    pub fn poll_rtcp(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.rtcp.poll_transmit(now, buf)
    }

    /// A datagram arrived on the leg's RTCP socket (RTP port + 1) from `source`.
    pub fn handle_rtcp_from(&mut self, now: Instant, data: &[u8], source: SocketAddr) {
        if self.rtcp.handle_rtcp(now, data).is_ok() && !self.rtcp_latched {
            self.rtcp_latched = true;
            if source.ip() != self.rtcp_remote.ip() {
                self.rtcp_remote = source;
            }
        }
    }

    /// The quality of this leg's media so far (reception statistics, the peer's reports).
    pub fn quality(&self) -> LegQuality {
        self.rtcp.quality()
    }

    /// RTCP packets sent, received and rejected, for the engine's metrics.
    pub fn rtcp_stats(&self) -> RtcpStats {
        self.rtcp.stats
    }

    /// Where packets go: the SDP's address, or where the peer's first packet came from.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The codec and payload types this leg negotiated, as the relay needs them.
    pub fn payload_map(&self) -> PayloadMap {
        self.map
    }

    pub fn ssrc(&self) -> Ssrc {
        self.out.ssrc()
    }

    /// Local frames and relayed packets through this leg's stream, and relay drops.
    pub fn outbound_stats(&self) -> OutboundStats {
        self.out.stats
    }

    /// Whether the negotiated direction lets us send (not on hold).
    pub fn sends(&self) -> bool {
        self.direction.we_send()
    }

    pub fn is_bridged(&self) -> bool {
        self.bridged
    }

    /// A re-INVITE changed the remote address, codec or direction. The stream switches
    /// (marker) when the codec or direction changed; latching starts over.
    pub fn update(&mut self, negotiated: &Negotiated) {
        if self.direction != negotiated.direction || self.codec != negotiated.codec {
            self.out.switch();
        }
        self.codec = negotiated.codec;
        self.telephone_event = negotiated.telephone_event;
        self.map = payload_map(negotiated);
        self.remote = negotiated.remote;
        self.latched = false;
        self.direction = negotiated.direction;
        self.rtcp_remote = negotiated.rtcp_remote();
        self.rtcp_latched = false;
        self.rtcp_mux = negotiated.rtcp_mux;
    }

    /// Replace whatever is playing with these prompts; `PromptDone(id)` when all are sent.
    /// Music on hold stops. The engine unbridges a bridged leg before.
    pub fn play(&mut self, id: PlayId, prompts: Vec<Arc<Prompt>>) {
        self.queue.clear();
        self.queue.extend(prompts);
        self.offset = 0;
        self.moh = None;
        self.playing = Some(id);
        self.out.switch();
        if self.queue.is_empty() {
            self.finish_play();
        }
    }

    /// Loop `prompts` (the engine's music on hold) until the next play, stop or bridge.
    /// Whatever was playing stops without `PromptDone`, as with a new play.
    pub fn music_on_hold(&mut self, prompts: Arc<[Arc<Prompt>]>) {
        self.queue.clear();
        self.offset = 0;
        self.playing = None;
        // Prompts without audio could never fill a frame: silence instead of a busy loop.
        self.moh = prompts.iter().any(|p| !p.pcmu.is_empty()).then_some(Moh {
            prompts,
            index: 0,
            offset: 0,
        });
        self.out.switch();
    }

    /// Stop prompts and music on hold: silence from the next frame.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.offset = 0;
        self.playing = None;
        if self.moh.take().is_some() {
            self.out.switch();
        }
    }

    /// Linked to another leg: local playback stops (without `PromptDone`) and no local
    /// frames are sent; the engine feeds the other leg's packets to [`Leg::relay`].
    pub fn bridge(&mut self) {
        self.queue.clear();
        self.offset = 0;
        self.playing = None;
        self.moh = None;
        self.bridged = true;
    }

    /// The link is gone: silence on the grid from the next frame (a switch, so a marker).
    pub fn unbridge(&mut self) {
        self.bridged = false;
        self.out.switch();
    }

    /// Rewrite a packet received on the other leg (which negotiated `from`) into `dst` as
    /// this leg's next packet. On `Sent(n)` the caller sends `dst[..n]` to [`Leg::remote`].
    pub fn relay(
        &mut self,
        now: Instant,
        input: &[u8],
        from: &PayloadMap,
        dst: &mut [u8],
    ) -> Relayed {
        let relayed = self.out.relay(now, input, from, &self.map, dst);
        if let Relayed::Sent(n) = relayed {
            let ts = u32::from_be_bytes([dst[4], dst[5], dst[6], dst[7]]);
            self.rtcp.handle_rtp_sent(now, ts, n.saturating_sub(12));
        }
        relayed
    }

    /// When the next frame is due.
    pub fn next_deadline(&self) -> Instant {
        self.start + PTIME * self.next_frame as u32
    }

    /// Write the next due frame into `buf` and return its length; `None` when nothing is
    /// due at `now`. Call until `None`. Frames more than [`MAX_BURST`] late are skipped.
    /// A bridged leg sends no local frame but keeps its place on the grid.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; PACKET]) -> Option<usize> {
        if now < self.next_deadline() {
            return None;
        }
        let due = ((now - self.start).as_micros() / PTIME.as_micros()) as u64 + 1;
        if self.bridged {
            self.next_frame = due;
            return None;
        }
        let late = due - self.next_frame;
        if late > u64::from(MAX_BURST) {
            let skip = late - u64::from(MAX_BURST);
            for _ in 0..skip {
                self.advance_payload(None); // time passes; no packet, so no sequence number
            }
            self.next_frame += skip;
            self.stats.skipped += skip;
            // The next timestamp follows the clock across the gap, with a marker.
            self.out.switch();
        }
        let deadline = self.next_deadline();
        self.next_frame += 1;
        if self.direction.we_send() {
            let header = self.out.local_frame(deadline, FRAME as u32);
            header.write(buf, self.codec.payload_type());
            self.advance_payload(Some(&mut buf[12..]));
            self.stats.sent += 1;
            self.rtcp.handle_rtp_sent(deadline, header.timestamp, FRAME);
            Some(PACKET)
        } else {
            // On hold we keep time (prompts go on) but send nothing; the stream resumes
            // where the clock is (RFC 3550 §5.1), with a marker.
            self.advance_payload(None);
            self.out.switch();
            self.poll_transmit(now, buf)
        }
    }

    /// Move one frame forward: copy prompt or music bytes (or silence) into `out` if given.
    fn advance_payload(&mut self, mut out: Option<&mut [u8]>) {
        let silence = match self.codec {
            Codec::Pcmu => ULAW_SILENCE,
            Codec::Pcma => ALAW_SILENCE,
        };
        let mut filled = 0;
        if let Some(moh) = self.moh.as_mut() {
            while filled < FRAME {
                let bytes = moh.prompts[moh.index].encoded(self.codec);
                let take = (bytes.len() - moh.offset).min(FRAME - filled);
                if let Some(out) = out.as_deref_mut() {
                    out[filled..filled + take]
                        .copy_from_slice(&bytes[moh.offset..moh.offset + take]);
                }
                filled += take;
                moh.offset += take;
                if moh.offset >= bytes.len() {
                    moh.offset = 0;
                    moh.index = (moh.index + 1) % moh.prompts.len();
                }
            }
        }
        while filled < FRAME {
            let Some(prompt) = self.queue.front() else {
                break;
            };
            let bytes = prompt.encoded(self.codec);
            let take = (bytes.len() - self.offset).min(FRAME - filled);
            if let Some(out) = out.as_deref_mut() {
                out[filled..filled + take].copy_from_slice(&bytes[self.offset..self.offset + take]);
            }
            filled += take;
            self.offset += take;
            if self.offset >= bytes.len() {
                self.queue.pop_front();
                self.offset = 0;
                if self.queue.is_empty() {
                    self.finish_play();
                }
            }
        }
        if let Some(out) = out {
            out[filled..FRAME].fill(silence);
        }
    }

    fn finish_play(&mut self) {
        if let Some(id) = self.playing.take() {
            self.events.push_back(LegEvent::PromptDone(id));
        }
    }

    /// A datagram arrived on the leg's socket from `source`: latch onto `source` if it is the
    /// first valid RTP since `Start`/`Update` (module doc), then as [`Leg::handle_rtp`].
    pub fn handle_rtp_from(&mut self, now: Instant, data: &[u8], source: SocketAddr) {
        self.receive(now, data, Some(source));
    }

    /// A datagram arrived on the leg's socket (no latching).
    pub fn handle_rtp(&mut self, now: Instant, data: &[u8]) {
        self.receive(now, data, None);
    }

    fn receive(&mut self, now: Instant, data: &[u8], source: Option<SocketAddr>) {
        if is_rtcp(data) {
            // RTCP on the RTP port (RFC 5761 §4): muxed, or a peer that muxes anyway.
            let _ = self.rtcp.handle_rtcp(now, data);
            return;
        }
        let Ok(packet) = RtpPacket::parse(data) else {
            return; // junk: not ours to judge
        };
        if let Some(source) = source {
            if !self.latched {
                self.latched = true;
                if source.ip() != self.remote.ip() {
                    self.remote = source;
                }
            }
        }
        self.stats.received += 1;
        self.last_rx = now;
        self.timed_out = false;
        let event = Some(packet.payload_type) == self.telephone_event;
        self.rtcp.handle_rtp_received(now, &packet, !event);
        if event {
            if let Some(d) = self.rfc4733.handle_packet(packet.timestamp, packet.payload) {
                self.events
                    .push_back(LegEvent::Digit(d, DigitSource::Rfc4733));
            }
            return;
        }
        let Some(detector) = self.inband.as_mut() else {
            return;
        };
        let n = packet.payload.len().min(FRAME);
        let decode = match packet.payload_type {
            0 => ulaw_to_linear,
            8 => alaw_to_linear,
            _ => return,
        };
        for (dst, &b) in self.pcm[..n].iter_mut().zip(packet.payload) {
            *dst = decode(b);
        }
        if let Some(d) = detector.handle_samples(&self.pcm[..n]) {
            self.events
                .push_back(LegEvent::Digit(d, DigitSource::Inband));
        }
    }

    /// Check liveness; call once per engine tick.
    pub fn handle_tick(&mut self, now: Instant) {
        if let Some(limit) = self.rtp_timeout {
            if !self.timed_out
                && self.direction != Direction::Inactive
                && now.saturating_duration_since(self.last_rx) >= limit
            {
                self.timed_out = true;
                self.events.push_back(LegEvent::RtpTimeout);
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
#[path = "leg_tests.rs"]
mod tests;
