//! The RTP hot path allocates nothing: after warm-up, 1,000 frames sent and 1,000 received
//! (PCMU decoded and run through the in-band DTMF detector, plus RFC 4733 events) through a
//! media leg perform zero heap allocations. Counted by a global allocator wrapper.
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

#[test]
fn a_thousand_frames_each_way_allocate_nothing() {
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
