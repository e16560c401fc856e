#![allow(clippy::disallowed_methods)]

use super::*;
use crate::media::g711::linear_to_ulaw;
use crate::media::rtcp::{NtpTime, RtcpSession, REPORT_INTERVAL};
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

fn rtp_from_peer(seq: u16) -> [u8; PACKET] {
    let mut p = [0u8; PACKET];
    write_header(&mut p, false, 0, seq, u32::from(seq) * 160, Ssrc(9));
    p
}

#[test]
fn without_mux_rtcp_goes_to_port_plus_one_and_latches_on_the_first_report() {
    let t0 = Instant::now();
    let n = negotiated();
    let mut leg = Leg::new(t0, 1, 0, 0, &n, false, None);
    assert!(!leg.rtcp_mux());
    assert_eq!(leg.rtcp_remote(), "127.0.0.1:30001".parse().unwrap());
    let nat: SocketAddr = "203.0.113.5:41001".parse().unwrap();
    leg.handle_rtcp_from(t0, b"junk", "198.51.100.1:9".parse().unwrap());
    assert_eq!(leg.rtcp_remote().port(), 30001, "junk does not latch");
    let mut peer = RtcpSession::new(t0, NtpTime::default(), 9, REPORT_INTERVAL, 3);
    let mut report = [0u8; crate::media::rtcp::MAX_REPORT];
    let len = peer.poll_transmit(t0 + PTIME * 500, &mut report).unwrap();
    leg.handle_rtcp_from(t0, &report[..len], nat);
    assert_eq!(leg.rtcp_remote(), nat, "symmetric RTCP behind a NAT");
    assert_eq!(leg.rtcp_stats().received, 1);
    leg.update(&n);
    assert_eq!(
        leg.rtcp_remote().port(),
        30001,
        "a new negotiation starts over"
    );
}

#[test]
fn muxed_rtcp_on_the_rtp_socket_is_not_taken_for_rtp() {
    let t0 = Instant::now();
    let n = crate::sdp::negotiate(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp-mux\r\n",
    )
    .unwrap();
    let mut leg = Leg::new(t0, 1, 0, 0, &n, false, None);
    assert!(leg.rtcp_mux());
    let mut peer = RtcpSession::new(t0, NtpTime::default(), 9, REPORT_INTERVAL, 3);
    let mut report = [0u8; crate::media::rtcp::MAX_REPORT];
    let len = peer.poll_transmit(t0 + PTIME * 500, &mut report).unwrap();
    let nat: SocketAddr = "203.0.113.5:41000".parse().unwrap();
    leg.handle_rtp_from(t0, &report[..len], nat);
    assert_eq!(leg.stats.received, 0, "not counted as RTP");
    assert_eq!(leg.remote(), n.remote, "RTCP does not latch the RTP stream");
    assert_eq!(leg.rtcp_stats().received, 1);
    leg.handle_rtp_from(t0, &rtp_from_peer(1), nat);
    assert_eq!(leg.rtcp_remote(), nat, "muxed: RTCP follows RTP's latching");
}

#[test]
fn the_legs_report_counts_loss_and_its_local_and_relayed_packets() {
    let t0 = Instant::now();
    let mut leg = Leg::new(t0, 7, 0, 0, &negotiated(), false, None).with_rtcp(
        NtpTime(1 << 48),
        PTIME * 50,
        5,
    );
    for seq in (1..=20).filter(|s| ![5, 6, 7].contains(s)) {
        leg.handle_rtp(t0 + PTIME * u32::from(seq), &rtp_from_peer(seq));
    }
    let mut buf = [0u8; PACKET];
    assert!(leg.poll_transmit(t0, &mut buf).is_some());
    leg.bridge();
    let mut dst = [0u8; 2048];
    let map = leg.payload_map();
    assert!(matches!(
        leg.relay(t0 + PTIME, &rtp_from_peer(100), &map, &mut dst),
        Relayed::Sent(_)
    ));
    let mut report = [0u8; 128];
    let at = t0 + Duration::from_secs(2);
    let len = leg.poll_rtcp(at, &mut report).expect("due");
    let r = crate::media::rtcp::parse(&report[..len]).unwrap();
    let info = r.sender.expect("we sent: an SR");
    assert_eq!(
        (info.packets, info.octets),
        (2, 320),
        "one local, one relayed"
    );
    let block = r.blocks().next().unwrap();
    assert_eq!((block.ssrc, block.cumulative_lost), (9, 3));
    assert_eq!(block.fraction_lost, (3 * 256 / 20) as u8);
    let q = leg.quality();
    assert_eq!((q.packets_received, q.packets_lost), (17, 3));
    assert_eq!(leg.rtcp_stats().sent, 1);
}
