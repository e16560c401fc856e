//! The RTP hot path allocates nothing: after warm-up, 1,000 frames sent and 1,000 received
//! (PCMU decoded and run through the in-band DTMF detector, plus RFC 4733 events) through a
//! media leg perform zero heap allocations; so do 1,000 packets relayed each way between two
//! bridged legs, both sans-IO and through the engine's sockets. Counted by a global
//! allocator wrapper.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qonyrau::ivr::PlayId;
use qonyrau::media::leg::{Leg, PACKET};
use qonyrau::media::prompt::Prompt;
use qonyrau::media::rtp::{write_header, Ssrc};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is process-wide: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_thousand_frames_each_way_allocate_nothing() {
    let _serial = serial();
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let n = qonyrau::sdp::negotiate(offer).unwrap();
    let t0 = Instant::now();
    let mut leg = Leg::new(t0, 1, 0, 0, &n, true, Some(Duration::from_secs(60)));
    let pcm: Vec<i16> = (0..8000 * 30)
        .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
        .collect();
    leg.play(PlayId(1), vec![Arc::new(Prompt::from_pcm("long", &pcm))]);
    let mut out = [0u8; PACKET];
    // Caller audio: a 697+1209 Hz tone ("1") in PCMU, and an RFC 4733 event now and then.
    let tone: Vec<u8> = (0..160)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = 5000.0 * (2.0 * std::f32::consts::PI * 697.0 * t).sin()
                + 5000.0 * (2.0 * std::f32::consts::PI * 1209.0 * t).sin();
            qonyrau::media::g711::linear_to_ulaw(v as i16)
        })
        .collect();
    let mut inbound = [0u8; PACKET];
    inbound[12..].copy_from_slice(&tone);
    let mut event = [0u8; 16];
    let mut frame = |i: u64, leg: &mut Leg| {
        let now = t0 + Duration::from_millis(20 * i);
        while leg.poll_transmit(now, &mut out).is_some() {}
        write_header(&mut inbound, false, 0, i as u16, (i * 160) as u32, Ssrc(5));
        leg.handle_rtp(now, &inbound);
        if i % 50 == 0 {
            write_header(&mut event, true, 101, i as u16, (i * 160) as u32, Ssrc(5));
            event[12..16].copy_from_slice(&[5, 0x80, 1, 0]);
            leg.handle_rtp(now, &event);
        }
        leg.handle_tick(now);
        while leg.poll_event().is_some() {}
    };
    for i in 0..200 {
        frame(i, &mut leg); // warm-up
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 200..1200 {
        frame(i, &mut leg);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the RTP path");
    assert!(leg.stats.sent >= 1000 && leg.stats.received >= 1000);
}

fn negotiated(port: u16, codec_pt: u8, event_pt: u8) -> qonyrau::sdp::Negotiated {
    qonyrau::sdp::negotiate(&format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {codec_pt} {event_pt}\r\na=rtpmap:{event_pt} telephone-event/8000\r\n"
    ))
    .unwrap()
}

/// The relay path of two bridged legs, sans-IO: PCMA in on A, PCMU out of B and back, with
/// each receiving leg still looking for digits (in-band and RFC 4733).
#[test]
fn a_thousand_relayed_packets_each_way_allocate_nothing() {
    let _serial = serial();
    use qonyrau::media::bridge::Relayed;
    let t0 = Instant::now();
    let (na, nb) = (negotiated(30000, 8, 101), negotiated(30002, 0, 96));
    let mut a = Leg::new(t0, 1, 0, 0, &na, true, Some(Duration::from_secs(60)));
    let mut b = Leg::new(t0, 2, 0, 0, &nb, true, Some(Duration::from_secs(60)));
    a.bridge();
    b.bridge();
    let from: std::net::SocketAddr = "127.0.0.1:30000".parse().unwrap();
    let mut in_a = [0u8; PACKET];
    let mut in_b = [0u8; PACKET];
    let mut event = [0u8; 16];
    let mut dst = [0u8; 2048];
    let mut out = [0u8; PACKET];
    let mut step = |i: u64, a: &mut Leg, b: &mut Leg| {
        let now = t0 + Duration::from_millis(20 * i);
        in_a[12..].fill(0xd5 ^ (i as u8));
        write_header(&mut in_a, false, 8, i as u16, (i * 160) as u32, Ssrc(5));
        write_header(&mut in_b, false, 0, i as u16, (i * 160) as u32, Ssrc(6));
        let relayed_ab = b.relay(now, &in_a, &a.payload_map(), &mut dst);
        assert!(matches!(relayed_ab, Relayed::Sent(PACKET)));
        a.handle_rtp_from(now, &in_a, from);
        let relayed_ba = a.relay(now, &in_b, &b.payload_map(), &mut dst);
        assert!(matches!(relayed_ba, Relayed::Sent(PACKET)));
        b.handle_rtp_from(now, &in_b, from);
        if i % 50 == 0 {
            write_header(&mut event, true, 101, i as u16, (i * 160) as u32, Ssrc(5));
            event[12..16].copy_from_slice(&[5, 0x80, 1, 0]);
            let _ = b.relay(now, &event, &a.payload_map(), &mut dst);
            a.handle_rtp_from(now, &event, from);
        }
        for leg in [&mut *a, &mut *b] {
            assert!(leg.poll_transmit(now, &mut out).is_none(), "bridged");
            leg.handle_tick(now);
            while leg.poll_event().is_some() {}
        }
    };
    for i in 0..200 {
        step(i, &mut a, &mut b); // warm-up
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 200..1200 {
        step(i, &mut a, &mut b);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the relay path");
    assert!(a.outbound_stats().relayed >= 1000 && b.outbound_stats().relayed >= 1000);
}

/// The same through the engine: real sockets, the worker's epoll wait and relay, its ticks.
/// Counts every allocation in the process while 1,000 packets go each way.
#[test]
fn the_engine_relays_a_thousand_packets_each_way_without_allocating() {
    let _serial = serial();
    use qonyrau::media::engine::{LegCommand, MediaEngine};
    use std::net::{SocketAddr, UdpSocket};
    let mut config = qonyrau::config::Config::default();
    let base = 40_000 + (std::process::id() % 1000) as u16 * 20;
    config.rtp.ip = "127.0.0.1".parse().unwrap();
    config.rtp.ports = base..=base + 19;
    config.ivr.sounds_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds");
    let engine = MediaEngine::start(
        &config,
        Arc::new(qonyrau::media::prompt::PromptLibrary::default()),
    )
    .unwrap();
    let peer_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let leg_a = engine.allocate_leg().unwrap();
    let leg_b = engine.allocate_leg_near(&leg_a).unwrap();
    let na = negotiated(peer_a.local_addr().unwrap().port(), 8, 101);
    let nb = negotiated(peer_b.local_addr().unwrap().port(), 0, 96);
    leg_a.send(LegCommand::Start(na)).unwrap();
    leg_b.send(LegCommand::Start(nb)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    leg_a.send(LegCommand::Bridge { other: leg_b.id }).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let to_a = SocketAddr::from(([127, 0, 0, 1], leg_a.local_port));
    let to_b = SocketAddr::from(([127, 0, 0, 1], leg_b.local_port));
    for s in [&peer_a, &peer_b] {
        s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let mut buf = [0u8; 2048];
        while s.recv(&mut buf).is_ok() {} // frames from before the bridge
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    }
    let mut pa = [0u8; PACKET];
    let mut pb = [0u8; PACKET];
    let mut buf = [0u8; 2048];
    let mut round = |i: u32| {
        write_header(&mut pa, false, 8, i as u16, i * 160, Ssrc(5));
        write_header(&mut pb, false, 0, i as u16, i * 160, Ssrc(6));
        peer_a.send_to(&pa, to_a).unwrap();
        assert_eq!(peer_b.recv(&mut buf).unwrap(), PACKET);
        peer_b.send_to(&pb, to_b).unwrap();
        assert_eq!(peer_a.recv(&mut buf).unwrap(), PACKET);
    };
    for i in 0..200 {
        round(i); // warm-up
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 200..1200 {
        round(i);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        0,
        "allocations while relaying through the engine"
    );
}
