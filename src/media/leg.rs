//! One call's RTP leg, sans-IO: what to send when (drift-free 20 ms pacing from a start
//! instant, prompts then silence, correct sequence numbers, timestamps, SSRC and marker
//! bit), and what a received packet means (RFC 4733 digits, in-band digits, liveness).
//!
//! The engine owns the socket and the clock; it asks [`Leg::poll_transmit`] for due frames
//! and feeds [`Leg::handle_rtp`] with received packets. Nothing here allocates per packet:
//! the play queue is built when a `Play` command arrives, frames are written into the
//! engine's buffer, and events go into a queue with room reserved up front.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ivr::PlayId;
use crate::media::dtmf::{Digit, DigitSource, Rfc4733Receiver};
use crate::media::g711::{alaw_to_linear, ulaw_to_linear, ALAW_SILENCE, ULAW_SILENCE};
use crate::media::inband::InbandDetector;
use crate::media::prompt::Prompt;
use crate::media::rtp::{write_header, RtpPacket, Ssrc};
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

pub struct Leg {
    ssrc: Ssrc,
    seq: u16,
    timestamp: u32,
    /// Frame n is due at `start + n·20 ms`.
    start: Instant,
    next_frame: u64,
    codec: Codec,
    telephone_event: Option<u8>,
    remote: SocketAddr,
    direction: Direction,
    marker: bool,
    queue: VecDeque<Arc<Prompt>>,
    offset: usize,
    playing: Option<PlayId>,
    rfc4733: Rfc4733Receiver,
    inband: Option<InbandDetector>,
    pcm: [i16; FRAME],
    last_rx: Instant,
    rtp_timeout: Option<Duration>,
    timed_out: bool,
    events: VecDeque<LegEvent>,
    pub stats: LegStats,
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
            ssrc: Ssrc(ssrc),
            seq: initial_seq,
            timestamp: initial_ts,
            start,
            next_frame: 0,
            codec: negotiated.codec,
            telephone_event: negotiated.telephone_event,
            remote: negotiated.remote,
            direction: negotiated.direction,
            marker: true,
            queue: VecDeque::with_capacity(8),
            offset: 0,
            playing: None,
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

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// A re-INVITE changed the remote address, codec or direction.
    pub fn update(&mut self, negotiated: &Negotiated) {
        self.codec = negotiated.codec;
        self.telephone_event = negotiated.telephone_event;
        self.remote = negotiated.remote;
        if self.direction != negotiated.direction {
            self.marker = true;
        }
        self.direction = negotiated.direction;
    }

    /// Replace whatever is playing with these prompts; `PromptDone(id)` when all are sent.
    pub fn play(&mut self, id: PlayId, prompts: Vec<Arc<Prompt>>) {
        self.queue.clear();
        self.queue.extend(prompts);
        self.offset = 0;
        self.playing = Some(id);
        self.marker = true;
        if self.queue.is_empty() {
            self.finish_play();
        }
    }

    pub fn stop(&mut self) {
        self.queue.clear();
        self.offset = 0;
        self.playing = None;
    }

    /// When the next frame is due.
    pub fn next_deadline(&self) -> Instant {
        self.start + PTIME * self.next_frame as u32
    }

    /// Write the next due frame into `buf` and return its length; `None` when nothing is
    /// due at `now`. Call until `None`. Frames more than [`MAX_BURST`] late are skipped.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; PACKET]) -> Option<usize> {
        if now < self.next_deadline() {
            return None;
        }
        let due = ((now - self.start).as_micros() / PTIME.as_micros()) as u64 + 1;
        let late = due - self.next_frame;
        if late > u64::from(MAX_BURST) {
            let skip = late - u64::from(MAX_BURST);
            for _ in 0..skip {
                self.advance_payload(None); // time passes; no packet, so no sequence number
            }
            self.next_frame += skip;
            self.stats.skipped += skip;
        }
        self.next_frame += 1;
        let send = self.direction.we_send();
        let playing = !self.queue.is_empty();
        if send {
            let marker = std::mem::take(&mut self.marker) && playing;
            write_header(
                buf,
                marker,
                self.codec.payload_type(),
                self.seq,
                self.timestamp,
                self.ssrc,
            );
            self.advance_payload(Some(&mut buf[12..]));
            self.seq = self.seq.wrapping_add(1); // RFC 3550 §5.1: one per packet sent
            self.stats.sent += 1;
            Some(PACKET)
        } else {
            // On hold we keep time (prompts go on) but send nothing; the timestamp still
            // advances, so the stream resumes where the clock is (RFC 3550 §5.1).
            self.advance_payload(None);
            self.poll_transmit(now, buf)
        }
    }

    /// Move one frame forward: copy prompt bytes (or silence) into `out` if given.
    fn advance_payload(&mut self, mut out: Option<&mut [u8]>) {
        let silence = match self.codec {
            Codec::Pcmu => ULAW_SILENCE,
            Codec::Pcma => ALAW_SILENCE,
        };
        let mut filled = 0;
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
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
    }

    fn finish_play(&mut self) {
        if let Some(id) = self.playing.take() {
            self.events.push_back(LegEvent::PromptDone(id));
        }
    }

    /// A datagram arrived on the leg's socket from `source`.
    pub fn handle_rtp(&mut self, now: Instant, data: &[u8]) {
        let Ok(packet) = RtpPacket::parse(data) else {
            return; // RTCP on the same port, or junk: not ours to judge
        };
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
}
