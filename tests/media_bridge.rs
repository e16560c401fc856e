//! Two legs bridged through the media engine, over real UDP sockets on 127.0.0.1: music on
//! hold on the grid, then relaying on arrival with PCMA⇄PCMU transcoding, one outbound
//! stream per leg (SSRC and sequence continue from music on hold into bridged audio), RFC
//! 4733 with the other leg's payload type, relay latency well under a tick, and closing one
//! leg leaves the other silent.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qonyrau::config::Config;
use qonyrau::media::bridge::{ALAW_TO_ULAW, ULAW_TO_ALAW};
use qonyrau::media::dtmf::{Digit, DigitSource};
use qonyrau::media::engine::{LegCommand, LegHandle, MediaEngine};
use qonyrau::media::g711::{linear_to_alaw, linear_to_ulaw, ULAW_SILENCE};
use qonyrau::media::leg::LegEvent;
use qonyrau::media::prompt::{load_music_on_hold, PromptLibrary};
use qonyrau::media::rtp::{write_header, RtpPacket, Ssrc};

/// One packet as a peer saw it.
#[derive(Clone, Debug)]
struct Got {
    at: Instant,
    marker: bool,
    pt: u8,
    seq: u16,
    ssrc: u32,
    payload: Vec<u8>,
}

fn parse(at: Instant, data: &[u8]) -> Got {
    let p = RtpPacket::parse(data).expect("RTP");
    Got {
        at,
        marker: p.marker,
        pt: p.payload_type,
        seq: p.seq,
        ssrc: p.ssrc.0,
        payload: p.payload.to_vec(),
    }
}

/// Everything that arrives on `sock` within `window`.
fn collect(sock: &UdpSocket, window: Duration) -> Vec<Got> {
    let end = Instant::now() + window;
    let mut out = vec![];
    let mut buf = [0u8; 2048];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        sock.set_read_timeout(Some(left.max(Duration::from_micros(100))))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(parse(Instant::now(), &buf[..n]));
        }
    }
}

fn offer(port: u16, codec_pt: u8, event_pt: u8) -> qonyrau::sdp::Negotiated {
    qonyrau::sdp::negotiate(&format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {codec_pt} {event_pt}\r\na=rtpmap:{event_pt} telephone-event/8000\r\n"
    ))
    .unwrap()
}

fn engine() -> MediaEngine {
    let mut config = Config::default();
    let base = 30_000 + (std::process::id() % 1000) as u16 * 20;
    config.rtp.ip = "127.0.0.1".parse().unwrap();
    config.rtp.ports = base..=base + 19;
    config.ivr.sounds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds");
    MediaEngine::start(&config, Arc::new(PromptLibrary::default())).unwrap()
}

fn leg_addr(leg: &LegHandle) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], leg.local_port))
}

/// 20 ms of a tone (different per packet), 16-bit linear.
fn tone(i: usize) -> Vec<i16> {
    (0..160)
        .map(|k| {
            let t = (i * 160 + k) as f32 / 8000.0;
            (6000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

fn packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12 + payload.len()];
    write_header(&mut p, marker, pt, seq, ts, Ssrc(ssrc));
    p[12..].copy_from_slice(payload);
    p
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn bridged_legs_relay_on_arrival_with_transcoding_and_one_stream_each() {
    let engine = engine();
    let peer_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut leg_a = engine.allocate_leg().unwrap();
    let leg_b = engine.allocate_leg_near(&leg_a).unwrap();
    let (a_port, b_port) = (
        peer_a.local_addr().unwrap().port(),
        peer_b.local_addr().unwrap().port(),
    );
    leg_a
        .send(LegCommand::Start(offer(a_port, 8, 101)))
        .unwrap(); // PCMA, events 101
    leg_b.send(LegCommand::Start(offer(b_port, 0, 96))).unwrap(); // PCMU, events 96
                                                                  // A class the engine does not have plays the default class, never silence.
    leg_b
        .send(LegCommand::MusicOnHold {
            class: Arc::from("no-such-class"),
        })
        .unwrap();

    // Music on hold reaches B on the 20 ms grid, from the default class's file.
    let moh = collect(&peer_b, Duration::from_millis(600));
    assert!(moh.len() >= 25, "{} MOH frames in 600 ms", moh.len());
    let music = load_music_on_hold(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds")).unwrap();
    let pcmu = &music[0].pcmu;
    let start = pcmu
        .chunks(160)
        .position(|c| c == &moh[0].payload[..])
        .expect("the first frame is music on hold");
    for (k, g) in moh.iter().enumerate() {
        assert_eq!(g.pt, 0);
        assert_eq!(g.payload, pcmu[(start + k) * 160..(start + k + 1) * 160]);
        assert_eq!(g.ssrc, moh[0].ssrc);
        assert_eq!(g.seq, moh[0].seq.wrapping_add(k as u16));
    }
    let gaps: Vec<f64> = moh
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let near = gaps.iter().filter(|g| (*g - 20.0).abs() < 5.0).count();
    assert!((mean - 20.0).abs() < 1.5, "mean MOH gap {mean:.2} ms");
    assert!(near * 10 >= gaps.len() * 8, "MOH gaps: {gaps:?}");

    // Bridge; the rest of B's music and A's silence drain away.
    leg_b.send(LegCommand::Bridge { other: leg_a.id }).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    let tail_b = collect(&peer_b, Duration::from_millis(40));
    let tail_a = collect(&peer_a, Duration::from_millis(40));
    let last_b = tail_b.last().unwrap_or(moh.last().unwrap()).clone();
    let last_a = tail_a
        .last()
        .expect("A got silence before the bridge")
        .clone();
    assert_eq!(last_b.ssrc, moh[0].ssrc);
    assert!(
        collect(&peer_b, Duration::from_millis(60)).is_empty(),
        "no local frame bridged"
    );

    // 100 packets each way, 20 ms apart; receivers on their own threads.
    let rx_b = peer_b.try_clone().unwrap();
    let rx_a = peer_a.try_clone().unwrap();
    let recv_b = std::thread::spawn(move || collect(&rx_b, Duration::from_millis(2_400)));
    let recv_a = std::thread::spawn(move || collect(&rx_a, Duration::from_millis(2_400)));
    let (mut from_a, mut from_b, mut sent_at) = (vec![], vec![], vec![]);
    for i in 0..100usize {
        let pcm = tone(i);
        let a: Vec<u8> = pcm.iter().map(|s| linear_to_alaw(*s)).collect();
        let b: Vec<u8> = pcm.iter().map(|s| linear_to_ulaw(*s / 2)).collect();
        let pa = packet(8, false, 1000 + i as u16, 40_000 + 160 * i as u32, 0xa, &a);
        let pb = packet(0, false, 7 + i as u16, 9_000 + 160 * i as u32, 0xb, &b);
        sent_at.push(Instant::now());
        peer_a.send_to(&pa, leg_addr(&leg_a)).unwrap();
        peer_b.send_to(&pb, leg_addr(&leg_b)).unwrap();
        from_a.push(a);
        from_b.push(b);
        std::thread::sleep(Duration::from_millis(20));
    }
    // A presses 5 (RFC 4733, PT 101): start, then three end packets.
    for (k, end) in [false, true, true, true].into_iter().enumerate() {
        let flags = if end { 0x8a } else { 0x0a };
        let ev = packet(
            101,
            k == 0,
            1100 + k as u16,
            56_000,
            0xa,
            &[5, flags, 1, 64],
        );
        peer_a.send_to(&ev, leg_addr(&leg_a)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_b = recv_b.join().unwrap();
    let at_a = recv_a.join().unwrap();

    // B: 100 PCMU packets, A's audio transcoded, B's stream continued.
    let audio_b: Vec<&Got> = at_b.iter().filter(|g| g.pt == 0).collect();
    assert_eq!(audio_b.len(), 100, "B got {} audio packets", audio_b.len());
    for (i, g) in audio_b.iter().enumerate() {
        let want: Vec<u8> = from_a[i]
            .iter()
            .map(|x| ALAW_TO_ULAW[*x as usize])
            .collect();
        assert_eq!(g.payload, want, "packet {i}: µ-law of A's audio");
        assert_eq!(g.ssrc, moh[0].ssrc, "B's SSRC as during music on hold");
        assert_eq!(
            g.seq,
            last_b.seq.wrapping_add(1 + i as u16),
            "sequence continues"
        );
        assert_eq!(g.marker, i == 0, "marker on the first bridged packet only");
    }
    let events_b: Vec<&Got> = at_b.iter().filter(|g| g.pt != 0).collect();
    assert_eq!(events_b.len(), 4, "{events_b:?}");
    assert!(events_b.iter().all(|g| g.pt == 96 && g.payload[0] == 5));
    assert!(events_b[0].marker);

    // A: 100 PCMA packets, B's audio transcoded, A's stream continued.
    assert_eq!(at_a.len(), 100, "A got {} packets", at_a.len());
    for (i, g) in at_a.iter().enumerate() {
        let want: Vec<u8> = from_b[i]
            .iter()
            .map(|x| ULAW_TO_ALAW[*x as usize])
            .collect();
        assert_eq!(
            (g.pt, &g.payload),
            (8, &want),
            "packet {i}: A-law of B's audio"
        );
        assert_eq!(g.ssrc, last_a.ssrc);
        assert_eq!(g.seq, last_a.seq.wrapping_add(1 + i as u16));
        assert_eq!(g.marker, i == 0);
    }

    // Relay latency: A's send instant → B's receive instant.
    let mut lat: Vec<Duration> = audio_b
        .iter()
        .zip(&sent_at)
        .map(|(g, s)| g.at.saturating_duration_since(*s))
        .collect();
    lat.sort();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "relay latency A→B: p50 {p50:?}, p99 {p99:?}, max {:?}",
        lat[99]
    );
    assert!(p99 < Duration::from_millis(5), "p99 {p99:?}: tick-bound?");

    // The digit on the bridged leg is still reported.
    std::thread::sleep(Duration::from_millis(60));
    let mut digits = vec![];
    while let Ok(ev) = leg_a.events.try_recv() {
        if let LegEvent::Digit(d, s) = ev {
            digits.push((d, s));
        }
    }
    assert_eq!(
        digits,
        [(Digit::from_char('5').unwrap(), DigitSource::Rfc4733)]
    );

    // Closing A leaves B unlinked: silence on its own stream, nothing relayed, no panic.
    let closed = leg_addr(&leg_a);
    drop(leg_a);
    std::thread::sleep(Duration::from_millis(60));
    let _ = collect(&peer_b, Duration::from_millis(10));
    for i in 0..5u16 {
        let pa = packet(8, false, 2000 + i, 80_000, 0xa, &[0x55; 160]);
        let _ = peer_a.send_to(&pa, closed);
    }
    let after = collect(&peer_b, Duration::from_millis(200));
    assert!(
        after.len() >= 8,
        "B keeps its grid: {} packets",
        after.len()
    );
    assert!(after.iter().all(|g| g.pt == 0
        && g.ssrc == moh[0].ssrc
        && g.payload.iter().all(|b| *b == ULAW_SILENCE)));
    assert!(
        collect(&peer_a, Duration::from_millis(50)).is_empty(),
        "A is closed"
    );
    leg_b
        .send(LegCommand::MusicOnHold {
            class: Arc::from("calm"),
        })
        .unwrap();
    let again = collect(&peer_b, Duration::from_millis(100));
    assert!(
        again
            .iter()
            .any(|g| g.payload.iter().any(|b| *b != ULAW_SILENCE)),
        "B still serves commands"
    );
}
