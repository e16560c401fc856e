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
use crate::media::rtp::{RtpPacket, Ssrc};
use crate::sdp::{Codec, Direction, Negotiated};

pub const PTIME: Duration = Duration::from_millis(20);
pub const FRAME: usize = 160;
/// 12-byte header + 160 bytes of G.711.
pub const PACKET: usize = 12 + FRAME;
/// When the engine wakes late, at most this many overdue frames are sent; the rest are
/// skipped (counted), so a stall does not turn into a burst.
pub const MAX_BURST: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegEvent {
    /// Every prompt of this play has been sent.
    PromptDone(PlayId),
    Digit(Digit, DigitSource),
    /// No RTP from the caller for the configured time.
    RtpTimeout,
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
        }
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
        self.out.relay(now, input, from, &self.map, dst)
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
        let Ok(packet) = RtpPacket::parse(data) else {
            return; // RTCP on the same port, or junk: not ours to judge
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
        if Some(packet.payload_type) == self.telephone_event {
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
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::media::g711::linear_to_ulaw;
    use crate::media::rtp::write_header;

    fn negotiated() -> Negotiated {
        crate::sdp::negotiate(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        )
        .unwrap()
    }

    fn prompt(frames: usize, value: i16) -> Arc<Prompt> {
        Arc::new(Prompt::from_pcm("p", &vec![value; frames * FRAME]))
    }

    #[test]
    fn frames_are_paced_from_the_start_instant_with_continuous_headers() {
        let t0 = Instant::now();
        let mut leg = Leg::new(t0, 42, 65534, 1000, &negotiated(), false, None);
        leg.play(PlayId(1), vec![prompt(2, 1000)]);
        let mut buf = [0u8; PACKET];
        let mut sent = vec![];
        for ms in (0..=100).step_by(5) {
            let now = t0 + Duration::from_millis(ms);
            while leg.poll_transmit(now, &mut buf).is_some() {
                let p = RtpPacket::parse(&buf).unwrap();
                sent.push((ms, p.seq, p.timestamp, p.marker, p.payload[0]));
            }
        }
        let ms: Vec<u64> = sent.iter().map(|s| s.0).collect();
        assert_eq!(ms, [0, 20, 40, 60, 80, 100], "one frame per 20 ms, on time");
        assert_eq!(sent[0].1, 65534);
        assert_eq!(sent[2].1, 0, "sequence wraps");
        assert!(sent.windows(2).all(|w| w[1].2 == w[0].2.wrapping_add(160)));
        assert!(
            sent[0].3 && !sent[1].3,
            "marker only on the first packet of the prompt"
        );
        assert_eq!(sent[0].4, linear_to_ulaw(1000));
        assert_eq!(sent[2].4, ULAW_SILENCE, "silence after the prompt");
        assert_eq!(leg.poll_event(), Some(LegEvent::PromptDone(PlayId(1))));
    }

    #[test]
    fn a_late_wake_up_sends_at_most_three_frames_and_skips_the_rest() {
        let t0 = Instant::now();
        let mut leg = Leg::new(t0, 1, 0, 0, &negotiated(), false, None);
        let mut buf = [0u8; PACKET];
        let mut seqs = vec![];
        let now = t0 + Duration::from_millis(190); // frames 0..=9 due
        while leg.poll_transmit(now, &mut buf).is_some() {
            seqs.push(RtpPacket::parse(&buf).unwrap().seq);
        }
        assert_eq!(
            seqs,
            [0, 1, 2],
            "the seven oldest are skipped; sequence numbers stay contiguous"
        );
        assert_eq!(leg.stats.skipped, 7);
        assert_eq!(
            leg.next_deadline(),
            t0 + Duration::from_millis(200),
            "grid kept"
        );
    }

    #[test]
    fn a_new_play_replaces_the_old_and_only_the_new_reports_done() {
        let t0 = Instant::now();
        let mut leg = Leg::new(t0, 1, 0, 0, &negotiated(), false, None);
        leg.play(PlayId(1), vec![prompt(50, 1)]);
        leg.play(PlayId(2), vec![prompt(1, 2)]);
        let mut buf = [0u8; PACKET];
        while leg
            .poll_transmit(t0 + Duration::from_millis(40), &mut buf)
            .is_some()
        {}
        assert_eq!(leg.poll_event(), Some(LegEvent::PromptDone(PlayId(2))));
        assert_eq!(leg.poll_event(), None);
    }

    #[test]
    fn on_hold_nothing_is_sent_but_time_moves_on() {
        let t0 = Instant::now();
        let mut n = negotiated();
        let mut leg = Leg::new(t0, 1, 0, 0, &n, false, None);
        n.direction = Direction::RecvOnly;
        leg.update(&n);
        let mut buf = [0u8; PACKET];
        assert_eq!(
            leg.poll_transmit(t0 + Duration::from_millis(40), &mut buf),
            None
        );
        n.direction = Direction::SendRecv;
        leg.update(&n);
        assert!(leg
            .poll_transmit(t0 + Duration::from_millis(60), &mut buf)
            .is_some());
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(
            (p.seq, p.timestamp),
            (0, 480),
            "the RTP clock kept running on hold"
        );
    }

    #[test]
    fn rfc4733_packets_give_one_digit() {
        let t0 = Instant::now();
        let mut leg = Leg::new(t0, 1, 0, 0, &negotiated(), true, None);
        for end in [false, true, true, true] {
            let mut p = [0u8; 16];
            write_header(&mut p, !end, 101, 1, 8000, Ssrc(9));
            p[12..16].copy_from_slice(&[1, if end { 0x80 } else { 0 }, 1, 0]);
            leg.handle_rtp(t0, &p);
        }
        assert_eq!(
            leg.poll_event(),
            Some(LegEvent::Digit(
                Digit::from_char('1').unwrap(),
                DigitSource::Rfc4733
            ))
        );
        assert_eq!(leg.poll_event(), None);
    }

    #[test]
    fn silence_from_the_caller_times_out_once() {
        let t0 = Instant::now();
        let mut leg = Leg::new(
            t0,
            1,
            0,
            0,
            &negotiated(),
            false,
            Some(Duration::from_secs(30)),
        );
        leg.handle_tick(t0 + Duration::from_secs(29));
        assert_eq!(leg.poll_event(), None);
        leg.handle_tick(t0 + Duration::from_secs(30));
        leg.handle_tick(t0 + Duration::from_secs(31));
        assert_eq!(leg.poll_event(), Some(LegEvent::RtpTimeout));
        assert_eq!(leg.poll_event(), None);
    }
    fn headers(leg: &mut Leg, at: Instant) -> Vec<(bool, u16, u32, u32, u8)> {
        let mut buf = [0u8; PACKET];
        let mut out = vec![];
        while leg.poll_transmit(at, &mut buf).is_some() {
            let p = RtpPacket::parse(&buf).unwrap();
            out.push((p.marker, p.seq, p.timestamp, p.ssrc.0, p.payload[0]));
        }
        out
    }

    #[test]
    fn one_stream_through_prompt_music_on_hold_bridge_and_back() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut leg = Leg::new(t0, 7, 100, 5000, &negotiated(), false, None);
        leg.play(PlayId(1), vec![prompt(2, 1000)]);
        let mut sent = headers(&mut leg, ms(0));
        sent.extend(headers(&mut leg, ms(20)));
        let music: Arc<[Arc<Prompt>]> = vec![prompt(10, -2000)].into();
        leg.music_on_hold(music);
        sent.extend(headers(&mut leg, ms(40)));
        sent.extend(headers(&mut leg, ms(60)));
        assert_eq!(leg.poll_event(), Some(LegEvent::PromptDone(PlayId(1))));

        leg.bridge();
        assert!(
            headers(&mut leg, ms(80)).is_empty(),
            "no local frame bridged"
        );
        let mut input = [0u8; PACKET];
        write_header(&mut input, false, 0, 9, 777, Ssrc(55));
        input[12..].fill(0x42);
        let mut dst = [0u8; 2048];
        let Relayed::Sent(n) = leg.relay(ms(85), &input, &leg.payload_map(), &mut dst) else {
            panic!("relayed")
        };
        let p = RtpPacket::parse(&dst[..n]).unwrap();
        sent.push((p.marker, p.seq, p.timestamp, p.ssrc.0, p.payload[0]));
        leg.unbridge();
        leg.music_on_hold(vec![prompt(10, -2000)].into());
        sent.extend(headers(&mut leg, ms(100)));

        let seqs: Vec<u16> = sent.iter().map(|s| s.1).collect();
        assert_eq!(seqs, [100, 101, 102, 103, 104, 105], "{sent:?}");
        assert!(sent.iter().all(|s| s.3 == 7), "one SSRC: {sent:?}");
        let markers: Vec<bool> = sent.iter().map(|s| s.0).collect();
        assert_eq!(markers, [true, false, true, false, true, true], "{sent:?}");
        let ts: Vec<u32> = sent.iter().map(|s| s.2).collect();
        assert_eq!(
            &ts[..4],
            [5000, 5160, 5320, 5480],
            "no gap between prompt and music"
        );
        assert_eq!(ts[4], 5000 + 85 * 8, "relayed: the clock since the start");
        assert_eq!(
            ts[5],
            5000 + 85 * 8 + 160,
            "after the relayed frame, never over it"
        );
        assert_eq!(sent[0].4, linear_to_ulaw(1000));
        assert_eq!(sent[2].4, linear_to_ulaw(-2000), "music on hold");
        assert_eq!(sent[4].4, 0x42, "relayed payload");
        assert_eq!(leg.outbound_stats().relayed, 1);
    }

    #[test]
    fn music_on_hold_loops_across_prompts_until_stopped() {
        let t0 = Instant::now();
        let mut leg = Leg::new(t0, 1, 0, 0, &negotiated(), false, None);
        // 1.5 frames of one tone, then half a frame of another: 2 frames per loop.
        let a = Arc::new(Prompt::from_pcm("a", &[3000; FRAME * 3 / 2]));
        let b = Arc::new(Prompt::from_pcm("b", &[-500; FRAME / 2]));
        leg.music_on_hold(vec![a, b].into());
        let mut buf = [0u8; PACKET];
        let mut frames = vec![];
        for i in 0..5u64 {
            assert!(leg.poll_transmit(t0 + PTIME * i as u32, &mut buf).is_some());
            frames.push((buf[12], buf[12 + 80], buf[PACKET - 1]));
        }
        let (x, y) = (linear_to_ulaw(3000), linear_to_ulaw(-500));
        assert_eq!(frames[0], (x, x, x));
        assert_eq!(frames[1], (x, y, y));
        assert_eq!(frames[2], frames[0], "looped");
        assert_eq!(frames[3], frames[1]);
        leg.stop();
        leg.poll_transmit(t0 + PTIME * 5, &mut buf).unwrap();
        assert_eq!(buf[12], ULAW_SILENCE);
        assert!(RtpPacket::parse(&buf).unwrap().marker, "a switch");
        assert_eq!(leg.poll_event(), None, "music on hold never reports done");
    }

    #[test]
    fn the_first_packet_latches_the_remote_once_per_negotiation() {
        let t0 = Instant::now();
        let n = negotiated();
        let mut leg = Leg::new(t0, 1, 0, 0, &n, false, None);
        let mut p = [0u8; PACKET];
        write_header(&mut p, false, 0, 1, 0, Ssrc(9));
        let nat: SocketAddr = "203.0.113.5:41000".parse().unwrap();
        let other: SocketAddr = "198.51.100.1:5004".parse().unwrap();
        leg.handle_rtp_from(t0, b"junk", other);
        assert_eq!(leg.remote(), n.remote, "junk does not latch");
        leg.handle_rtp_from(t0, &p, nat);
        assert_eq!(leg.remote(), nat, "sent where the peer's packets come from");
        leg.handle_rtp_from(t0, &p, other);
        assert_eq!(leg.remote(), nat, "only once");
        leg.update(&n);
        assert_eq!(leg.remote(), n.remote, "a new negotiation starts over");
        leg.handle_rtp_from(t0, &p, n.remote);
        leg.handle_rtp_from(t0, &p, other);
        assert_eq!(leg.remote(), n.remote, "latched on the SDP's own address");
        leg.update(&n);
        let same_host = SocketAddr::new(n.remote.ip(), n.remote.port() + 100);
        leg.handle_rtp_from(t0, &p, same_host);
        assert_eq!(
            leg.remote(),
            n.remote,
            "the SDP's own IP on another port keeps the SDP's port"
        );
    }

    #[test]
    fn a_bridged_leg_keeps_its_grid_and_resumes_on_it() {
        let t0 = Instant::now();
        let mut leg = Leg::new(t0, 1, 0, 0, &negotiated(), false, None);
        assert_eq!(headers(&mut leg, t0).len(), 1);
        leg.bridge();
        assert!(headers(&mut leg, t0 + Duration::from_millis(500)).is_empty());
        assert_eq!(leg.stats.skipped, 0, "bridged frames are not skips");
        leg.unbridge();
        assert!(headers(&mut leg, t0 + Duration::from_millis(510)).is_empty());
        let resumed = headers(&mut leg, t0 + Duration::from_millis(520));
        assert_eq!(resumed.len(), 1, "one frame, on the grid");
        assert_eq!(
            (resumed[0].0, resumed[0].1, resumed[0].2),
            (true, 1, 520 * 8)
        );
    }
}
