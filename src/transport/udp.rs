//! SIP over UDP, one socket per listen address: the receive buffer asked for in config
//! (`sip.udp_recv_buffer`, SO_RCVBUF) and the kernel's own drop count (SO_RXQ_OVFL), read
//! from each datagram's ancillary data and exported as
//! `qonyrau_sip_udp_kernel_drops_total{listen}`.
//!
//! Datagrams are read with `recvmsg` into one buffer and one control buffer the reader owns,
//! so reading the drop count adds no allocation per datagram.

use std::io;
use std::mem::{size_of, size_of_val, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Inbound, UdpId, Via, MAX_MESSAGE};
use crate::telemetry;

/// A UDP socket on `addr` with SO_RCVBUF set to `recv_buffer` and SO_RXQ_OVFL on; logs the
/// buffer the kernel granted, with a warning when `net.core.rmem_max` capped it. An IPv6
/// socket is IPv6-only when `v6_only` (an IPv4 socket on the same port is configured too).
pub(super) fn bind(addr: SocketAddr, recv_buffer: usize, v6_only: bool) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && v6_only {
        sock.set_only_v6(true)?;
    }
    sock.set_recv_buffer_size(recv_buffer)?;
    let granted = sock.recv_buffer_size()?;
    enable_drop_count(&sock)?;
    sock.bind(&addr.into())?;
    sock.set_nonblocking(true)?;
    let sock = UdpSocket::from_std(sock.into())?;
    let local = sock.local_addr()?;
    match recv_buffer_verdict(recv_buffer, granted) {
        RecvBuffer::Granted => {
            tracing::info!(listen = %local, asked = recv_buffer, granted, "SIP/UDP receive buffer");
        }
        RecvBuffer::Capped => tracing::warn!(
            listen = %local,
            asked = recv_buffer,
            granted,
            "SIP/UDP receive buffer capped by the kernel: raise net.core.rmem_max \
             (sysctl -w net.core.rmem_max={recv_buffer}) or lower sip.udp_recv_buffer"
        ),
    }
    Ok(sock)
}

#[derive(Debug, PartialEq, Eq)]
enum RecvBuffer {
    Granted,
    /// Less than asked: Linux caps SO_RCVBUF at `net.core.rmem_max`.
    Capped,
}

/// Linux doubles the SO_RCVBUF value asked for (the extra half is for its bookkeeping) and
/// reports the doubled size, so a grant below twice the request means the cap applied.
fn recv_buffer_verdict(asked: usize, granted: usize) -> RecvBuffer {
    let expected = if cfg!(target_os = "linux") {
        asked.saturating_mul(2)
    } else {
        asked
    };
    if granted < expected {
        RecvBuffer::Capped
    } else {
        RecvBuffer::Granted
    }
}

/// SO_RXQ_OVFL: each datagram carries the socket's drop count as ancillary data.
fn enable_drop_count(sock: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, and a pointer to an int with its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Read datagrams until cancelled; each goes to the endpoint as one message.
pub(super) async fn reader(
    sock: Arc<UdpSocket>,
    id: UdpId,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) {
    let listen = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut drops = KernelDrops::new(metrics::counter!(
        telemetry::SIP_UDP_KERNEL_DROPS,
        "listen" => listen
    ));
    let parse_dropped = metrics::counter!(
        telemetry::SIP_PARSE_ERRORS,
        "transport" => "udp",
        "action" => "dropped"
    );
    let overload = metrics::counter!(telemetry::SIP_OVERLOAD_DROPS);
    let fd = sock.as_raw_fd();
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    let mut control = Control::default();
    loop {
        let received = tokio::select! {
            r = sock.async_io(Interest::READABLE, || recv_datagram(fd, &mut buf, &mut control)) => r,
            _ = cancel.cancelled() => return,
        };
        match received {
            Ok(d) => {
                if let Some(total) = d.kernel_drops {
                    drops.observe(total);
                }
                if d.len > MAX_MESSAGE {
                    parse_dropped.increment(1);
                    continue;
                }
                let msg = Inbound {
                    data: Bytes::copy_from_slice(&buf[..d.len]),
                    source: d.source,
                    via: Via::Udp(id),
                };
                if inbound.try_send(msg).is_err() {
                    // Overloaded: drop and count rather than queue without end; the peer
                    // retransmits, and calls already up are not slowed down.
                    overload.increment(1);
                }
            }
            // ICMP errors from an earlier send can surface here; not fatal (STYLE §3).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => {
                tracing::warn!(error = %e, "SIP/UDP receive failed");
            }
        }
    }
}

/// The kernel's drop count is the socket's running total (a `u32` that wraps); the counter
/// gets the increments.
struct KernelDrops {
    last: u32,
    counter: metrics::Counter,
}

impl KernelDrops {
    fn new(counter: metrics::Counter) -> KernelDrops {
        // Register the series at 0 so dashboards see it before the first drop.
        counter.increment(0);
        KernelDrops { last: 0, counter }
    }

    fn observe(&mut self, total: u32) {
        let delta = drop_delta(self.last, total);
        if delta > 0 {
            self.counter.increment(u64::from(delta));
            self.last = total;
        }
    }
}

/// New drops between two readings of the running total, across a wrap of the `u32`. Each
/// datagram carries the total at the time it was queued and datagrams are read in order, so
/// the total never goes back; a smaller value is treated as no news rather than 4 billion.
fn drop_delta(last: u32, total: u32) -> u32 {
    let delta = total.wrapping_sub(last);
    if delta < 1 << 31 {
        delta
    } else {
        0
    }
}

/// Room for one SO_RXQ_OVFL message (CMSG_SPACE(4) = 16 bytes on 64-bit Linux) and then
/// some, aligned for `cmsghdr`.
#[derive(Default)]
struct Control([u64; 8]);

struct Datagram {
    len: usize,
    source: SocketAddr,
    /// The socket's drop count, when the kernel attached it (it does once it is not zero).
    kernel_drops: Option<u32>,
}

/// One `recvmsg`: the datagram into `buf`, its source, and the drop count from `control`.
/// `WouldBlock` when nothing is queued (tokio's readiness handles it).
fn recv_datagram(fd: RawFd, buf: &mut [u8], control: &mut Control) -> io::Result<Datagram> {
    // SAFETY: zeroed sockaddr_storage and msghdr are valid values of these C structs.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control.0) as _;
    // SAFETY: every pointer in `msg` points at a live buffer of the length given with it.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // A datagram longer than `buf` is cut; MSG_TRUNC says so, and the caller drops it.
    let len = if msg.msg_flags & libc::MSG_TRUNC != 0 {
        buf.len() + 1
    } else {
        n as usize
    };
    let mut kernel_drops = None;
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the CMSG macros stay
    // within it, and the SO_RXQ_OVFL payload is a u32 (read unaligned to be safe).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                kernel_drops = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let source = socket_addr(&addr).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
    })?;
    Ok(Datagram {
        len,
        source,
        kernel_drops,
    })
}

fn socket_addr(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_below_twice_the_request_is_the_rmem_max_cap() {
        assert_eq!(recv_buffer_verdict(4096, 8192), RecvBuffer::Granted);
        assert_eq!(recv_buffer_verdict(8 << 20, 8 << 20), RecvBuffer::Capped);
        assert_eq!(recv_buffer_verdict(8 << 20, 425_984), RecvBuffer::Capped);
    }

    #[test]
    fn drops_are_counted_as_increments_of_the_running_total_across_a_wrap() {
        assert_eq!(drop_delta(0, 7), 7);
        assert_eq!(drop_delta(7, 7), 0);
        assert_eq!(drop_delta(u32::MAX - 1, 3), 5);
        assert_eq!(drop_delta(10, 9), 0, "an older total is no news");
    }

    #[tokio::test]
    async fn the_socket_gets_the_receive_buffer_asked_for() {
        let sock = bind("127.0.0.1:0".parse().unwrap(), 64 << 10, false).unwrap();
        let granted = socket2::SockRef::from(&sock).recv_buffer_size().unwrap();
        // Linux grants twice the request (rmem_max is at least 208 KiB by default).
        assert!(granted >= 64 << 10, "granted {granted}");
    }

    /// A full 4 KiB buffer drops; the next datagram read carries the drop count, and the
    /// source address comes back as sent, over IPv4 and IPv6.
    #[tokio::test]
    async fn recvmsg_reads_the_source_and_the_kernel_drop_count() {
        for (bind_at, send_from) in [("127.0.0.1:0", "127.0.0.1:0"), ("[::1]:0", "[::1]:0")] {
            let sock = bind(bind_at.parse().unwrap(), 4 << 10, false).unwrap();
            let to = sock.local_addr().unwrap();
            let peer = std::net::UdpSocket::bind(send_from).unwrap();
            for _ in 0..200 {
                peer.send_to(&[b'x'; 400], to).unwrap();
            }
            let (fd, mut buf, mut control) =
                (sock.as_raw_fd(), vec![0u8; 2048], Control::default());
            let mut last = None;
            let mut read = 0;
            while let Ok(d) = recv_datagram(fd, &mut buf, &mut control) {
                assert_eq!(d.source, peer.local_addr().unwrap());
                assert_eq!(d.len, 400);
                last = d.kernel_drops.or(last);
                read += 1;
            }
            peer.send_to(b"after", to).unwrap();
            let d = loop {
                match recv_datagram(fd, &mut buf, &mut control) {
                    Ok(d) => break d,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            };
            let total = d.kernel_drops.expect("drops reported");
            assert_eq!(
                total as usize + read,
                200,
                "{bind_at}: read {read}, last {last:?}"
            );
        }
    }
}
