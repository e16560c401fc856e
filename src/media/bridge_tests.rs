//! Tests of `crate::media::bridge` (explicit time where time matters).
#![allow(clippy::disallowed_methods)]

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
