//! RTCP on a media leg, over real UDP sockets on 127.0.0.1: a test peer sends the leg RTP
//! with a known gap (across a sequence wrap) and answers each of the leg's sender reports
//! with its own SR. The leg's reports must be well-formed compound SR + SDES packets at the
//! peer's RTP port + 1 (or on the RTP port with rtcp-mux), their report block must show the
//! loss, echo the peer's SR (LSR/DLSR), and the leg's `LegQuality` at close must show the
//! loss, a round trip and what the peer said about the leg's stream.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qonyrau::config::Config;
use qonyrau::media::engine::{LegCommand, MediaEngine};
use qonyrau::media::prompt::PromptLibrary;
use qonyrau::media::rtcp::{is_rtcp, parse, LegQuality, ReportBlock};
use qonyrau::media::rtp::{write_header, Ssrc};

const PEER_SSRC: u32 = 0x5eed_0001;
/// The first sequence number: the stream wraps after 16 packets.
const FIRST_SEQ: u16 = 65_520;
const PACKETS: u16 = 50;
/// Packets 10..=14 are never sent.
const GAP: std::ops::RangeInclusive<u16> = 10..=14;
/// What the peer reports about the leg's stream (its "loss"), to be found in LegQuality.
const PEER_SAYS_LOST: u32 = 7;
const PEER_SAYS_FRACTION: u8 = 32;

fn engine() -> MediaEngine {
    let mut config = Config::default();
    let base = 40_000 + (std::process::id() % 1000) as u16 * 20;
    config.rtp.ip = "127.0.0.1".parse().unwrap();
    config.rtp.ports = base..=base + 19;
    config.rtp.rtcp_interval = Duration::from_millis(200);
    config.ivr.sounds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds");
    MediaEngine::start(&config, Arc::new(PromptLibrary::default())).unwrap()
}

/// An even port for RTP with the odd one above it for RTCP, as a real phone binds them.
fn peer_sockets() -> (UdpSocket, UdpSocket) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 == 0 && port < u16::MAX {
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                return (rtp, rtcp);
            }
        }
    }
}

fn offer(port: u16, mux: bool) -> qonyrau::sdp::Negotiated {
    let mux = if mux { "a=rtcp-mux\r\n" } else { "" };
    qonyrau::sdp::negotiate(&format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\n{mux}"
    ))
    .unwrap()
}

/// The peer's SR + SDES, written by hand (not by the code under test): sender info, one
/// report block about the leg's stream echoing its last SR, CNAME "peer@test".
fn peer_sr(ntp: u64, leg_ssrc: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
    let mut p = vec![0x81, 200, 0, 12];
    p.extend(PEER_SSRC.to_be_bytes());
    p.extend(ntp.to_be_bytes());
    p.extend(1234u32.to_be_bytes()); // RTP timestamp
    p.extend(u32::from(PACKETS).to_be_bytes());
    p.extend((u32::from(PACKETS) * 160).to_be_bytes());
    p.extend(leg_ssrc.to_be_bytes());
    p.extend(((u32::from(PEER_SAYS_FRACTION) << 24) | PEER_SAYS_LOST).to_be_bytes());
    p.extend(99u32.to_be_bytes()); // extended highest sequence
    p.extend(80u32.to_be_bytes()); // jitter: 10 ms at 8 kHz
    p.extend(lsr.to_be_bytes());
    p.extend(dlsr.to_be_bytes());
    assert_eq!(p.len(), 52);
    // SDES: header, SSRC, CNAME item (2 + 9), a null item: 20 bytes, length 4.
    p.extend([0x81, 202, 0, 4]);
    p.extend(PEER_SSRC.to_be_bytes());
    p.extend([1, 9]);
    p.extend(b"peer@test");
    p.push(0); // the null item ends the chunk at 20 bytes
    assert_eq!(p.len(), 72);
    p
}

/// A 64-bit NTP-format time for the peer: its own epoch; only the leg's echo matters.
fn peer_ntp(t0: Instant) -> u64 {
    let d = t0.elapsed();
    (0xe000_0000u64 + d.as_secs()) << 32 | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// What the peer saw of the leg's reports.
struct Seen {
    /// Reports received from the leg.
    reports: usize,
    last_block: Option<ReportBlock>,
    /// LSR values the peer sent (middle bits of its SR NTP times).
    peer_lsrs: Vec<u32>,
    /// Round trips the peer measured from the leg's echoes of its SRs.
    peer_rtts_ms: Vec<f64>,
    echoed: bool,
}

/// Run the peer: RTP with a gap to the leg, an SR back for every SR of the leg (from
/// `rtcp_sock`, to `leg_rtcp`), until a report after the last RTP packet echoes one of ours.
fn run_peer(
    rtp_sock: &UdpSocket,
    rtcp_sock: &UdpSocket,
    leg_rtp: SocketAddr,
    leg_rtcp: SocketAddr,
) -> Seen {
    let t0 = Instant::now();
    let mut seen = Seen {
        reports: 0,
        last_block: None,
        peer_lsrs: vec![],
        peer_rtts_ms: vec![],
        echoed: false,
    };
    let mut next = 0u16;
    let mut buf = [0u8; 2048];
    rtcp_sock
        .set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    let muxed = rtp_sock.local_addr().unwrap() == rtcp_sock.local_addr().unwrap();
    while t0.elapsed() < Duration::from_secs(5) {
        while next < PACKETS && t0.elapsed() >= Duration::from_millis(20) * u32::from(next) {
            if !GAP.contains(&next) {
                let mut p = [0u8; 172];
                let seq = FIRST_SEQ.wrapping_add(next);
                write_header(
                    &mut p,
                    false,
                    0,
                    seq,
                    u32::from(next) * 160,
                    Ssrc(PEER_SSRC),
                );
                rtp_sock.send_to(&p, leg_rtp).unwrap();
            }
            next += 1;
        }
        let Ok((n, from)) = rtcp_sock.recv_from(&mut buf) else {
            continue;
        };
        let arrived = Instant::now();
        let data = &buf[..n];
        if muxed && !is_rtcp(data) {
            continue; // the leg's RTP (silence) on the muxed port
        }
        assert!(
            !muxed || from == leg_rtp,
            "muxed RTCP comes from the RTP port"
        );
        assert!(
            muxed || from == leg_rtcp,
            "RTCP comes from RTP port + 1: {from}"
        );
        let report = parse(data).expect("a well-formed compound RTCP packet");
        seen.reports += 1;
        let sender = report.sender.expect("the leg sends RTP, so an SR");
        assert_eq!(report.cname.map(<[u8]>::len), Some(16), "SDES CNAME");
        let blocks: Vec<ReportBlock> = report.blocks().collect();
        if let Some(b) = blocks.first() {
            assert_eq!(b.ssrc, PEER_SSRC);
            if seen.peer_lsrs.contains(&b.lsr) {
                // The peer's own round trip from the leg's echo (RFC 3550 §6.4.1).
                let a = (peer_ntp(t0) >> 16) as u32;
                let rtt = a.wrapping_sub(b.lsr).wrapping_sub(b.dlsr);
                seen.peer_rtts_ms.push(f64::from(rtt) * 1000.0 / 65_536.0);
            }
            seen.last_block = Some(*b);
            if next == PACKETS && b.lsr != 0 && seen.peer_lsrs.contains(&b.lsr) {
                let last_rtp = t0 + Duration::from_millis(20) * u32::from(PACKETS - 1);
                if arrived > last_rtp + Duration::from_millis(100) {
                    seen.echoed = true;
                    return seen;
                }
            }
        }
        // Answer with our SR, after holding it 5 ms (DLSR says how long, in 1/65536 s).
        std::thread::sleep(Duration::from_millis(5));
        let ntp = peer_ntp(t0);
        let lsr = (sender.ntp.0 >> 16) as u32;
        let dlsr = (arrived.elapsed().as_nanos() * 65_536 / 1_000_000_000) as u32;
        seen.peer_lsrs.push((ntp >> 16) as u32);
        rtcp_sock
            .send_to(
                &peer_sr(ntp, report.ssrc, lsr, dlsr),
                if muxed { leg_rtp } else { leg_rtcp },
            )
            .unwrap();
    }
    seen
}

fn check(seen: &Seen, quality: LegQuality) {
    assert!(
        seen.echoed,
        "a report after the RTP echoed our SR ({} reports)",
        seen.reports
    );
    let block = seen.last_block.unwrap();
    assert_eq!(block.cumulative_lost, 5, "{block:?}");
    assert_eq!(
        block.extended_highest_seq,
        65_536 + u32::from(FIRST_SEQ.wrapping_add(PACKETS - 1)),
        "one wrap"
    );
    assert_eq!(
        quality.packets_received,
        u64::from(PACKETS) - 5,
        "{quality:?}"
    );
    assert_eq!(quality.packets_lost, 5);
    assert!((quality.fraction_lost - 0.1).abs() < 1e-6);
    let rtt = quality
        .round_trip_ms
        .expect("a round trip from our SR's echo");
    // Loopback: the engine reads unbridged sockets on its 20 ms tick, so about a tick on
    // top. Growing round trips would mean reports queue behind RTP (muxed).
    assert!((0.0..60.0).contains(&rtt), "round trip {rtt} ms");
    assert!(
        !seen.peer_rtts_ms.is_empty() && seen.peer_rtts_ms.iter().all(|r| (0.0..60.0).contains(r)),
        "the peer's round trips: {:?}",
        seen.peer_rtts_ms
    );
    let peer = quality.peer.expect("the peer's report about the leg");
    assert_eq!(peer.cumulative_lost, PEER_SAYS_LOST as i32);
    assert_eq!(peer.fraction_lost, f32::from(PEER_SAYS_FRACTION) / 256.0);
    assert_eq!(peer.jitter_ms, 10.0);
}

fn close(leg: qonyrau::media::engine::LegHandle) -> LegQuality {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), leg.close()).await })
        .expect("closed within a tick")
        .expect("the leg's quality as its last event")
}

#[test]
fn rtcp_at_port_plus_one_reports_loss_and_round_trip() {
    let engine = engine();
    let (rtp, rtcp) = peer_sockets();
    let leg = engine.allocate_leg().unwrap();
    leg.send(LegCommand::Start(offer(
        rtp.local_addr().unwrap().port(),
        false,
    )))
    .unwrap();
    let leg_rtp = SocketAddr::from(([127, 0, 0, 1], leg.local_port));
    let leg_rtcp = SocketAddr::from(([127, 0, 0, 1], leg.local_port + 1));
    let seen = run_peer(&rtp, &rtcp, leg_rtp, leg_rtcp);
    check(&seen, close(leg));
}

#[test]
fn muxed_rtcp_shares_the_rtp_port_both_ways() {
    let engine = engine();
    let (rtp, _unused) = peer_sockets();
    let leg = engine.allocate_leg().unwrap();
    leg.send(LegCommand::Start(offer(
        rtp.local_addr().unwrap().port(),
        true,
    )))
    .unwrap();
    let leg_rtp = SocketAddr::from(([127, 0, 0, 1], leg.local_port));
    let seen = run_peer(&rtp, &rtp, leg_rtp, leg_rtp);
    check(&seen, close(leg));
}
