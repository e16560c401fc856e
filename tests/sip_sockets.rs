//! The SIP sockets themselves: IPv4 and IPv6 served at once over UDP and TCP, each answer
//! leaving from the address the request was sent to; requests we start going out of the
//! socket of the destination's family; and the kernel's receive-buffer drops counted in
//! `/metrics` exactly as `ss` sees them.
// Real sockets on loopback: these tests wait on the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{metric, peer, sipp, wait_metric, Server, ServerOpts};

const BOTH_FAMILIES: &str =
    "udp = [\"127.0.0.1:0\", \"[::1]:0\"]\ntcp = [\"127.0.0.1:0\", \"[::1]:0\"]\n";

fn loopback_like(addr: SocketAddr) -> &'static str {
    if addr.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    }
}

/// An out-of-dialog OPTIONS from `from` over `transport`; `n` makes it unique.
fn options(to: SocketAddr, from: SocketAddr, transport: &str, n: usize) -> String {
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bKsock{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{from}>;tag=t{n}\r\nTo: <sip:{to}>\r\n\
         Call-ID: sock{n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

fn status_line(msg: &[u8]) -> String {
    String::from_utf8_lossy(msg)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn ipv4_and_ipv6_are_answered_over_udp_and_tcp_from_the_address_asked() {
    let server = Server::start_opts(ServerOpts {
        listen: Some(BOTH_FAMILIES),
        ..ServerOpts::default()
    });
    assert_eq!(server.udp.len(), 2, "READY names both UDP sockets");
    assert_eq!(server.tcp.len(), 2, "READY names both TCP listeners");
    assert!(server.udp[0].is_ipv4() && server.udp[1].is_ipv6());
    let log = server.log_text();
    assert!(log.contains("SIP/UDP receive buffer"), "{log}");

    for (i, &addr) in server.udp.iter().enumerate() {
        let sock = UdpSocket::bind(loopback_like(addr)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let me = sock.local_addr().unwrap();
        sock.send_to(options(addr, me, "UDP", i).as_bytes(), addr)
            .unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = sock.recv_from(&mut buf).expect("an answer over UDP");
        assert_eq!(from, addr, "the UDP answer leaves from the address asked");
        assert_eq!(status_line(&buf[..n]), "SIP/2.0 200 OK");
    }
    for (i, &addr) in server.tcp.iter().enumerate() {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let me = stream.local_addr().unwrap();
        stream
            .write_all(options(addr, me, "TCP", 10 + i).as_bytes())
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).expect("an answer over TCP");
            assert!(n > 0, "connection closed before the answer");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(status_line(&got), "SIP/2.0 200 OK", "over TCP to {addr}");
    }

    // A real peer too: SIPp's OPTIONS over IPv6, UDP then TCP.
    if peer("sipp") {
        for (addr, args) in [(server.udp[1], &[][..]), (server.tcp[1], &["-t", "t1"][..])] {
            let (code, log) = sipp("options", addr, args, server.dir.path());
            assert_eq!(code, 0, "SIPp OPTIONS to {addr} {args:?}: {log}");
        }
    }
}

/// An operator registered over IPv6 is qualified (OPTIONS) from the server's IPv6 socket,
/// which also names itself in Via, while the server listens on IPv4 first.
#[test]
fn a_request_to_an_ipv6_contact_leaves_from_the_ipv6_socket() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start_opts(ServerOpts {
        listen: Some(BOTH_FAMILIES),
        ivr: "[registrar]\nqualify_every = \"1s\"\n",
        ..ServerOpts::default()
    });
    server.add_operator("op1", "2001", "sip-secret-2001");
    let ours = server.udp[1];
    // SIPp registers 2001 from [::1]:PORT and exits; we then take PORT to hear the probes.
    let port = common::free_udp_port(false);
    let port_arg = port.to_string();
    let (code, log) = sipp(
        "register",
        ours,
        &[
            "-s",
            "2001",
            "-au",
            "2001",
            "-ap",
            "sip-secret-2001",
            "-p",
            &port_arg,
        ],
        server.dir.path(),
    );
    assert_eq!(code, 0, "{log}");
    let contact = UdpSocket::bind(("::1", port)).expect("SIPp's port is free again");
    contact
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = contact.recv_from(&mut buf).expect("an OPTIONS probe");
    let probe = String::from_utf8_lossy(&buf[..n]);
    assert!(probe.starts_with("OPTIONS "), "{probe}");
    assert_eq!(from, ours, "the probe leaves from the IPv6 socket");
    assert!(
        probe.contains(&format!("Via: SIP/2.0/UDP {ours};")),
        "Via names the IPv6 socket: {probe}"
    );
}

/// `ss -uamn`'s drop counter (skmem `d`) of the UDP socket bound at `addr`.
fn ss_drops(addr: SocketAddr) -> Option<u64> {
    let out = Command::new("ss").arg("-uamn").output().expect("run ss");
    let text = String::from_utf8_lossy(&out.stdout);
    let want = addr.to_string();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.split_whitespace().any(|t| t == want) {
            let skmem = lines.next()?;
            let d = skmem
                .split(['(', ',', ')'])
                .find_map(|f| f.strip_prefix('d'))?;
            return d.parse().ok();
        }
    }
    None
}

#[test]
fn kernel_drops_are_counted_as_ss_reports_them() {
    if !peer("ss") {
        return;
    }
    // 4 KiB (8 KiB granted): a handful of datagrams fills it, so a burst must overflow.
    let server = Server::start_opts(ServerOpts {
        listen: Some("udp = \"127.0.0.1:0\"\ntcp = \"\"\n"),
        sip: "udp_recv_buffer = \"4KiB\"\n",
        ..ServerOpts::default()
    });
    let addr = server.udp[0];
    let series = format!("qonyrau_sip_udp_kernel_drops_total{{listen=\"{addr}\"}}");
    assert_eq!(
        metric(&server.metrics(), &series),
        Some(0.0),
        "the series exists from the start"
    );

    let burst = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = burst.local_addr().unwrap();
    for n in 0..5000 {
        let _ = burst.send_to(options(addr, me, "UDP", n).as_bytes(), addr);
    }
    // A probe queued after the burst carries the final drop count; once it is answered the
    // server has read everything the kernel kept.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let at = probe.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 100_000;
    loop {
        assert!(Instant::now() < deadline, "the probe was never answered");
        n += 1;
        probe
            .send_to(options(addr, at, "UDP", n).as_bytes(), addr)
            .unwrap();
        let mut buf = [0u8; 4096];
        if let Ok((len, _)) = probe.recv_from(&mut buf) {
            if String::from_utf8_lossy(&buf[..len]).contains(&format!("sock{n}@test")) {
                break;
            }
        }
    }
    let ss = ss_drops(addr).expect("ss lists the server's socket with skmem");
    eprintln!("kernel drops after the burst: ss d={ss}");
    assert!(ss > 0, "a 4 KiB buffer under a 5,000-datagram burst drops");
    let seen = wait_metric(&server, &series, ss as f64, Duration::from_secs(2));
    assert_eq!(seen, Some(ss as f64), "the metric equals ss's d counter");
}
