//! A caller's RTP end for the integration tests: one UDP socket that records every packet
//! it receives and, once the server's first packet arrives, answers it with a tone (G.711,
//! 20 ms packets) sent back to where that packet came from — what a phone behind the SDP's
//! port does. SIPp does the signalling with `[sink_port]` = this socket's port.
#![allow(dead_code, clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    Pcmu,
    Pcma,
}

impl Law {
    pub fn pt(self) -> u8 {
        match self {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        }
    }
}

pub struct Received {
    pub at: Instant,
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

pub struct RtpPeer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl RtpPeer {
    /// Bind a socket; it sends a `freq` Hz tone in `law` once the server's media arrives.
    pub fn start(law: Law, freq: f64) -> RtpPeer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind rtp peer");
        let port = sock.local_addr().unwrap().port();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (rx, st) = (Arc::clone(&received), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut peer = None;
            let mut next_send = Instant::now();
            let (mut seq, mut ts, ssrc) = (1000u16, 50_000u32, 0x5eed_u32);
            let mut phase = 0.0f64;
            while !st.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if n >= 12 && buf[0] >> 6 == 2 {
                        let p = &buf[..n];
                        rx.lock().unwrap().push(Received {
                            at: Instant::now(),
                            pt: p[1] & 0x7f,
                            marker: p[1] & 0x80 != 0,
                            seq: u16::from_be_bytes([p[2], p[3]]),
                            ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
                            ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
                            payload: p[12..].to_vec(),
                        });
                        if peer.is_none() {
                            peer = Some(from);
                            next_send = Instant::now();
                        }
                    }
                }
                if let Some(to) = peer {
                    while Instant::now() >= next_send {
                        let mut pkt = vec![0x80, law.pt(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
                        pkt[4..8].copy_from_slice(&ts.to_be_bytes());
                        pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
                        for _ in 0..160 {
                            let s = (phase.sin() * 8000.0) as i16;
                            phase += 2.0 * std::f64::consts::PI * freq / 8000.0;
                            pkt.push(match law {
                                Law::Pcmu => linear_to_ulaw(s),
                                Law::Pcma => linear_to_alaw(s),
                            });
                        }
                        let _ = sock.send_to(&pkt, to);
                        seq = seq.wrapping_add(1);
                        ts = ts.wrapping_add(160);
                        next_send += Duration::from_millis(20);
                    }
                }
            }
        });
        RtpPeer {
            port,
            received,
            stop,
        }
    }

    /// Everything received so far, in arrival order.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Decode received audio packets (PCMU or PCMA by their payload type) to linear samples.
pub fn decode(packets: &[Received]) -> Vec<i16> {
    let mut out = Vec::new();
    for p in packets {
        match p.pt {
            0 => out.extend(p.payload.iter().map(|&b| ulaw_to_linear(b))),
            8 => out.extend(p.payload.iter().map(|&b| alaw_to_linear(b))),
            _ => {}
        }
    }
    out
}

/// Power of `freq` in `samples` relative to their total power (Goertzel), 0..1.
pub fn tone_share(samples: &[i16], freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0f64;
    for &x in samples {
        let x = x as f64;
        total += x * x;
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - k * s1 * s2;
    if total == 0.0 {
        return 0.0;
    }
    // A pure tone of N samples gives power ≈ total·N/2.
    (power / (total * samples.len() as f64 / 2.0)).min(1.0)
}

/// The best `tone_share` of `freq` over 200 ms windows of `samples`.
pub fn best_tone_window(samples: &[i16], freq: f64) -> f64 {
    samples
        .chunks(1600)
        .filter(|c| c.len() == 1600)
        .map(|c| tone_share(c, freq))
        .fold(0.0, f64::max)
}

pub use qonyrau::media::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tone_helpers_find_a_tone_and_not_another() {
        let s: Vec<i16> = (0..1600)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 8000.0).sin() * 8000.0) as i16
            })
            .collect();
        assert!(tone_share(&s, 1000.0) > 0.9);
        assert!(tone_share(&s, 600.0) < 0.05);
        let a: Vec<i16> = s
            .iter()
            .map(|&x| alaw_to_linear(linear_to_alaw(x)))
            .collect();
        assert!(tone_share(&a, 1000.0) > 0.9);
    }
}
