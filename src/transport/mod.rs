//! SIP transports, the socket side (a driver: it moves bytes and decides nothing about SIP).
//!
//! Every listen address of `sip.udp` and `sip.tcp` gets its own socket, so IPv4 and IPv6
//! are served at once. UDP (`udp.rs`): one socket per address; each datagram (bounded to
//! 64 KiB) goes to the endpoint as one message, and the kernel's drops are counted. TCP: a
//! listener per address and one reader task per connection, which frames the stream by
//! Content-Length (RFC 3261 §18.3) with a bounded buffer, and one writer task fed by a
//! bounded channel. Everything inbound goes to the endpoint task through one bounded
//! channel; when it is full, datagrams are dropped and counted rather than queued without end.
//!
//! Which socket sends: a response or in-dialog request goes out of the socket its dialog or
//! transaction came in on ([`Via`] names it); a new request goes out of a socket of the
//! destination's address family ([`Transports::udp_toward`]), and so does anything whose
//! socket is of the other family.

mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sip::framing::{FramingError, StreamFramer};

/// Largest SIP message we accept on any transport.
pub const MAX_MESSAGE: usize = 65_535;

/// Identifies one TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// Identifies one UDP socket: its place in `sip.udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpId(pub u16);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    Udp(UdpId),
    Tcp(ConnId),
}

impl Via {
    pub fn label(self) -> &'static str {
        match self {
            Via::Udp(_) => "udp",
            Via::Tcp(_) => "tcp",
        }
    }
}

/// One message (or one datagram) from the network.
#[derive(Debug)]
pub struct Inbound {
    pub data: Bytes,
    pub source: SocketAddr,
    pub via: Via,
}

/// Handles for sending; cheap to clone.
#[derive(Clone)]
pub struct Transports {
    /// In `sip.udp` order: `UdpId(i)` is `udp[i]`, bound at `udp_addrs[i]`.
    udp: Arc<[(Arc<UdpSocket>, SocketAddr)]>,
    udp_addrs: Arc<[SocketAddr]>,
    /// The TCP listeners' addresses.
    tcp_listen: Arc<[SocketAddr]>,
    tcp: Arc<Mutex<TcpConns>>,
}

#[derive(Default)]
struct TcpConns {
    by_id: HashMap<ConnId, TcpConn>,
    by_addr: HashMap<SocketAddr, ConnId>,
}

struct TcpConn {
    /// The address of the listener that accepted it (what we call ourselves on it).
    local: SocketAddr,
    tx: mpsc::Sender<Bytes>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no UDP socket can reach {0}")]
    NoUdp(SocketAddr),
    #[error("TCP connection to {0} is gone")]
    NoConnection(SocketAddr),
    #[error("TCP connection to {0} is backed up")]
    Backpressure(SocketAddr),
    #[error("UDP send to {0}: {1}")]
    Udp(SocketAddr, std::io::Error),
}

impl Transports {
    /// Send to `dest` over UDP (out of the socket `via` names, or one of `dest`'s address
    /// family when that one is of the other), or over the TCP connection `via` (or any
    /// connection open to `dest` when that one closed).
    pub async fn send(&self, via: Via, dest: SocketAddr, data: Bytes) -> Result<(), SendError> {
        match via {
            Via::Udp(id) => {
                let (sock, local) = self.udp_socket(id, dest).ok_or(SendError::NoUdp(dest))?;
                sock.send_to(&data, reachable_from(*local, dest))
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::Udp(dest, e))
            }
            Via::Tcp(id) => {
                let tx = {
                    let conns = self.tcp.lock().expect("tcp table lock");
                    conns.find(id, dest).map(|c| c.tx.clone())
                };
                let tx = tx.ok_or(SendError::NoConnection(dest))?;
                tx.try_send(data).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => SendError::Backpressure(dest),
                    mpsc::error::TrySendError::Closed(_) => SendError::NoConnection(dest),
                })
            }
        }
    }

    /// How a new request to `dest` goes over UDP: out of a socket of `dest`'s family.
    pub fn udp_toward(&self, dest: SocketAddr) -> Via {
        // No socket can reach it: any id will do, the send reports it.
        let i = pick(&self.udp_addrs, dest).unwrap_or(0);
        Via::Udp(UdpId(
            u16::try_from(i).expect("fewer than 65,536 UDP sockets"),
        ))
    }

    /// Our address on the socket or connection a send to `dest` over `via` would use: what
    /// Via, Contact and From name.
    pub fn local(&self, via: Via, dest: SocketAddr) -> SocketAddr {
        let found = match via {
            Via::Udp(id) => self.udp_socket(id, dest).map(|(_, a)| *a),
            Via::Tcp(id) => {
                let conns = self.tcp.lock().expect("tcp table lock");
                conns
                    .find(id, dest)
                    .map(|c| c.local)
                    .or_else(|| pick(&self.tcp_listen, dest).map(|i| self.tcp_listen[i]))
            }
        };
        found
            .or_else(|| self.udp.first().map(|(_, a)| *a))
            .or_else(|| self.tcp_listen.first().copied())
            .expect("the config guarantees one SIP socket")
    }

    /// The socket `id` when it can reach `dest`, else the best one of `dest`'s family.
    fn udp_socket(&self, id: UdpId, dest: SocketAddr) -> Option<&(Arc<UdpSocket>, SocketAddr)> {
        match self.udp.get(usize::from(id.0)) {
            Some(s) if s.1.is_ipv4() == dest.is_ipv4() => Some(s),
            _ => pick(&self.udp_addrs, dest).map(|i| &self.udp[i]),
        }
    }
}

impl TcpConns {
    /// The connection `id`, or any connection open to `dest` when that one closed.
    fn find(&self, id: ConnId, dest: SocketAddr) -> Option<&TcpConn> {
        self.by_id
            .get(&id)
            .or_else(|| self.by_addr.get(&dest).and_then(|id| self.by_id.get(id)))
    }
}

/// Which of our addresses sends to `dest`: one of its family, preferring one that can
/// reach it (a wildcard, or loopback for loopback); an IPv6 socket that is not IPv6-only
/// reaches IPv4 too (as `::ffff:a.b.c.d`) when no IPv4 socket exists.
fn pick(ours: &[SocketAddr], dest: SocketAddr) -> Option<usize> {
    let dest_ip = canonical(dest.ip());
    let same_family = |a: &SocketAddr| a.is_ipv4() == dest_ip.is_ipv4();
    let reaches =
        |a: &SocketAddr| a.ip().is_unspecified() || a.ip().is_loopback() == dest_ip.is_loopback();
    ours.iter()
        .position(|a| same_family(a) && reaches(a))
        .or_else(|| ours.iter().position(same_family))
        .or_else(|| {
            ours.iter()
                .position(|a| a.is_ipv6() && a.ip().is_unspecified())
        })
}

/// `::ffff:a.b.c.d` is IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `dest` as a socket bound at `local` can send to it: IPv4 through an IPv6 socket is
/// written IPv4-mapped, and an IPv4-mapped address through an IPv4 socket plain.
fn reachable_from(local: SocketAddr, dest: SocketAddr) -> SocketAddr {
    match (local, dest) {
        (SocketAddr::V6(_), SocketAddr::V4(d)) => {
            SocketAddr::V6(SocketAddrV6::new(d.ip().to_ipv6_mapped(), d.port(), 0, 0))
        }
        (SocketAddr::V4(_), SocketAddr::V6(d)) => match d.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, d.port())),
            None => dest,
        },
        _ => dest,
    }
}

/// Bound sockets, not yet serving.
pub struct Bound {
    /// In `sip.udp` order.
    pub udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    pub tcp: Vec<(TcpListener, SocketAddr)>,
}

impl Bound {
    /// Every address bound, UDP first: the first one is what `READY sip=` reports.
    pub fn addresses(&self) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        (
            self.udp.iter().map(|(_, a)| *a).collect(),
            self.tcp.iter().map(|(_, a)| *a).collect(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("binding SIP/{transport} on {addr}: {source}")]
pub struct BindError {
    pub transport: &'static str,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Bind a UDP socket for each of `udp` and a TCP listener for each of `tcp`. When UDP and
/// TCP both ask for port 0 on the same IP, TCP takes the port the kernel gave UDP, so a test
/// can use one port for both. `udp_recv_buffer` is the SO_RCVBUF asked for each UDP socket.
/// An IPv6 socket is made IPv6-only when an IPv4 address is listed for the same transport,
/// so `0.0.0.0:5060` and `[::]:5060` can be bound together.
pub async fn bind(
    udp: &[SocketAddr],
    tcp: &[SocketAddr],
    udp_recv_buffer: usize,
) -> Result<Bound, BindError> {
    let udp_v6_only = udp.iter().any(SocketAddr::is_ipv4);
    let mut udp_bound = Vec::with_capacity(udp.len());
    for &addr in udp {
        let err = |source| BindError {
            transport: "UDP",
            addr,
            source,
        };
        let s = udp::bind(addr, udp_recv_buffer, udp_v6_only).map_err(err)?;
        let local = s.local_addr().map_err(err)?;
        udp_bound.push((Arc::new(s), local));
    }
    let tcp_v6_only = tcp.iter().any(SocketAddr::is_ipv4);
    let mut tcp_bound = Vec::with_capacity(tcp.len());
    for &asked in tcp {
        let mut addr = asked;
        if addr.port() == 0 {
            let twin = udp
                .iter()
                .zip(&udp_bound)
                .find(|(u, _)| u.port() == 0 && u.ip() == addr.ip());
            if let Some((_, (_, bound))) = twin {
                addr.set_port(bound.port());
            }
        }
        let err = |source| BindError {
            transport: "TCP",
            addr: asked,
            source,
        };
        let l = bind_tcp(addr, tcp_v6_only).map_err(err)?;
        let local = l.local_addr().map_err(err)?;
        tcp_bound.push((l, local));
    }
    Ok(Bound {
        udp: udp_bound,
        tcp: tcp_bound,
    })
}

fn bind_tcp(addr: SocketAddr, v6_only: bool) -> std::io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() && v6_only {
        sock.set_only_v6(true)?;
    }
    // As tokio's TcpListener::bind: a restarted server binds at once despite TIME_WAIT.
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    TcpListener::from_std(sock.into())
}

/// Start the reader tasks. Inbound messages go to `inbound`.
pub fn serve(
    bound: Bound,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) -> Transports {
    let transports = Transports {
        udp: bound.udp.iter().map(|(s, a)| (Arc::clone(s), *a)).collect(),
        udp_addrs: bound.udp.iter().map(|(_, a)| *a).collect(),
        tcp_listen: bound.tcp.iter().map(|(_, a)| *a).collect(),
        tcp: Arc::default(),
    };
    for (i, (sock, _)) in bound.udp.into_iter().enumerate() {
        let id = UdpId(u16::try_from(i).expect("fewer than 65,536 UDP sockets"));
        tokio::spawn(udp::reader(sock, id, inbound.clone(), cancel.clone()));
    }
    for (listener, local) in bound.tcp {
        tokio::spawn(tcp_acceptor(
            listener,
            local,
            inbound.clone(),
            transports.clone(),
            cancel.clone(),
        ));
    }
    transports
}

async fn tcp_acceptor(
    listener: TcpListener,
    local: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
    t: Transports,
    cancel: CancellationToken,
) {
    let next = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = cancel.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let id = ConnId(next.fetch_add(1, Ordering::Relaxed));
                let _ = stream.set_nodelay(true);
                tokio::spawn(tcp_connection(
                    stream,
                    peer,
                    local,
                    id,
                    inbound.clone(),
                    t.clone(),
                    cancel.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP/TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    id: ConnId,
    inbound: mpsc::Sender<Inbound>,
    t: Transports,
    cancel: CancellationToken,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    {
        let mut conns = t.tcp.lock().expect("tcp table lock");
        conns.by_id.insert(id, TcpConn { local, tx });
        conns.by_addr.insert(peer, id);
    }
    let writer_task = tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if writer.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut framer = StreamFramer::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = tokio::select! {
            r = reader.read(&mut buf) => match r { Ok(0) | Err(_) => break 'read, Ok(n) => n },
            _ = cancel.cancelled() => break 'read,
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_message() {
                Ok(Some(data)) => {
                    let msg = Inbound {
                        data,
                        source: peer,
                        via: Via::Tcp(id),
                    };
                    if inbound.send(msg).await.is_err() {
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Framing is lost (bad or missing Content-Length, oversize): hand what we
                    // have to the endpoint so it can answer 400 if it can, then close.
                    tracing::debug!(%peer, error = %e, "closing SIP/TCP connection");
                    if let FramingError::BadContentLength { head } = e {
                        let _ = inbound
                            .send(Inbound {
                                data: head,
                                source: peer,
                                via: Via::Tcp(id),
                            })
                            .await;
                        // Let the 400 be written before the close.
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    break 'read;
                }
            }
        }
    }
    {
        let mut conns = t.tcp.lock().expect("tcp table lock");
        conns.by_id.remove(&id);
        if conns.by_addr.get(&peer) == Some(&id) {
            conns.by_addr.remove(&peer);
        }
    }
    let _ = writer_task.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_new_request_leaves_from_a_socket_of_the_destinations_family() {
        let ours = addrs(&["127.0.0.1:5060", "[::1]:5060"]);
        assert_eq!(pick(&ours, "[::1]:5070".parse().unwrap()), Some(1));
        assert_eq!(pick(&ours, "127.0.0.1:5070".parse().unwrap()), Some(0));
        assert_eq!(
            pick(&ours, "[::ffff:127.0.0.1]:5070".parse().unwrap()),
            Some(0)
        );
        // Loopback sockets cannot reach other hosts: prefer the one that can.
        let ours = addrs(&["127.0.0.1:5060", "192.0.2.1:5060", "0.0.0.0:5062"]);
        assert_eq!(pick(&ours, "127.0.0.1:5070".parse().unwrap()), Some(0));
        assert_eq!(pick(&ours, "198.51.100.7:5070".parse().unwrap()), Some(1));
        // No socket of that family: only a dual-stack IPv6 wildcard can still reach it.
        assert_eq!(
            pick(&addrs(&["[::1]:5060"]), "127.0.0.1:5070".parse().unwrap()),
            None
        );
        assert_eq!(
            pick(&addrs(&["[::]:5060"]), "127.0.0.1:5070".parse().unwrap()),
            Some(0)
        );
        assert_eq!(
            reachable_from(
                "[::]:5060".parse().unwrap(),
                "127.0.0.1:5070".parse().unwrap()
            ),
            "[::ffff:127.0.0.1]:5070".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            reachable_from(
                "127.0.0.1:5060".parse().unwrap(),
                "[::ffff:127.0.0.1]:5070".parse().unwrap()
            ),
            "127.0.0.1:5070".parse::<SocketAddr>().unwrap()
        );
    }

    /// IPv4 and the IPv6 wildcard on one port bind together (the IPv6 socket is made
    /// IPv6-only; dual-stack it would hold the IPv4 port too).
    #[tokio::test]
    async fn ipv4_and_the_ipv6_wildcard_share_a_port() {
        let first = bind(&addrs(&["127.0.0.1:0"]), &[], 8192).await.unwrap();
        let port = first.udp[0].1.port();
        drop(first);
        let both = addrs(&[&format!("127.0.0.1:{port}"), &format!("[::]:{port}")]);
        let b = bind(&both, &both, 8192).await.unwrap();
        let (udp, tcp) = b.addresses();
        assert_eq!(udp, both);
        assert_eq!(tcp, both);
    }

    #[tokio::test]
    async fn a_port_in_use_names_the_transport_and_address() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let Err(e) = bind(&[addr], &[], 8192).await else {
            panic!("bound a port in use");
        };
        assert!(
            e.to_string()
                .starts_with(&format!("binding SIP/UDP on {addr}: ")),
            "{e}"
        );
    }
}
