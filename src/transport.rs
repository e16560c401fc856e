//! SIP transports, the socket side (a driver: it moves bytes and decides nothing about SIP).
//!
//! UDP: one socket; each datagram (bounded to 64 KiB) goes to the endpoint as one message.
//! TCP: a listener and one reader task per connection, which frames the stream by
//! Content-Length (RFC 3261 §18.3) with a bounded buffer, and one writer task fed by a
//! bounded channel. Everything inbound goes to the endpoint task through one bounded
//! channel; when it is full, datagrams are dropped and counted rather than queued without end.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sip::framing::{FramingError, StreamFramer};
use crate::telemetry;

/// Largest SIP message we accept on any transport.
pub const MAX_MESSAGE: usize = 65_535;

/// Identifies one TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    Udp,
    Tcp(ConnId),
}

impl Via {
    pub fn label(self) -> &'static str {
        match self {
            Via::Udp => "udp",
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
    udp: Option<Arc<UdpSocket>>,
    tcp: Arc<Mutex<TcpConns>>,
}

#[derive(Default)]
struct TcpConns {
    by_id: HashMap<ConnId, (SocketAddr, mpsc::Sender<Bytes>)>,
    by_addr: HashMap<SocketAddr, ConnId>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no UDP transport is configured")]
    NoUdp,
    #[error("TCP connection to {0} is gone")]
    NoConnection(SocketAddr),
    #[error("TCP connection to {0} is backed up")]
    Backpressure(SocketAddr),
    #[error("UDP send to {0}: {1}")]
    Udp(SocketAddr, std::io::Error),
}

impl Transports {
    /// Send to `dest` over UDP, or over the TCP connection `via` (or any connection open to
    /// `dest` when that one closed).
    pub async fn send(&self, via: Via, dest: SocketAddr, data: Bytes) -> Result<(), SendError> {
        match via {
            Via::Udp => {
                let sock = self.udp.as_ref().ok_or(SendError::NoUdp)?;
                sock.send_to(&data, dest)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::Udp(dest, e))
            }
            Via::Tcp(id) => {
                let tx = {
                    let conns = self.tcp.lock().expect("tcp table lock");
                    conns.by_id.get(&id).map(|(_, tx)| tx.clone()).or_else(|| {
                        conns
                            .by_addr
                            .get(&dest)
                            .and_then(|id| conns.by_id.get(id))
                            .map(|(_, tx)| tx.clone())
                    })
                };
                let tx = tx.ok_or(SendError::NoConnection(dest))?;
                tx.try_send(data).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => SendError::Backpressure(dest),
                    mpsc::error::TrySendError::Closed(_) => SendError::NoConnection(dest),
                })
            }
        }
    }
}

/// Bound sockets, not yet serving.
pub struct Bound {
    pub udp: Option<(Arc<UdpSocket>, SocketAddr)>,
    pub tcp: Option<(TcpListener, SocketAddr)>,
}

/// Bind UDP and TCP. When both ask for port 0 on the same address, TCP takes the port the
/// kernel gave UDP, so a test can use one port for both. `udp_recv_buffer` is the
/// SO_RCVBUF asked for the UDP socket.
pub async fn bind(
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    udp_recv_buffer: usize,
) -> std::io::Result<Bound> {
    let udp = match udp {
        Some(addr) => {
            let s = bind_udp(addr, udp_recv_buffer)?;
            let local = s.local_addr()?;
            Some((Arc::new(s), local))
        }
        None => None,
    };
    let tcp = match tcp {
        Some(mut addr) => {
            if let Some((_, u)) = &udp {
                if addr.port() == 0 && addr.ip() == u.ip() {
                    addr.set_port(u.port());
                }
            }
            let l = TcpListener::bind(addr).await?;
            let local = l.local_addr()?;
            Some((l, local))
        }
        None => None,
    };
    Ok(Bound { udp, tcp })
}

/// A UDP socket with the receive buffer asked for; logs what the kernel granted.
fn bind_udp(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_recv_buffer_size(recv_buffer)?;
    let granted = sock.recv_buffer_size()?;
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

/// Start the reader tasks. Inbound messages go to `inbound`.
pub fn serve(
    bound: Bound,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) -> Transports {
    let transports = Transports {
        udp: bound.udp.as_ref().map(|(s, _)| Arc::clone(s)),
        tcp: Arc::default(),
    };
    if let Some((sock, _)) = bound.udp {
        tokio::spawn(udp_reader(sock, inbound.clone(), cancel.clone()));
    }
    if let Some((listener, _)) = bound.tcp {
        tokio::spawn(tcp_acceptor(listener, inbound, transports.clone(), cancel));
    }
    transports
}

async fn udp_reader(
    sock: Arc<UdpSocket>,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    loop {
        let received = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = cancel.cancelled() => return,
        };
        match received {
            Ok((n, source)) => {
                if n > MAX_MESSAGE {
                    metrics::counter!(telemetry::SIP_PARSE_ERRORS, "transport" => "udp", "action" => "dropped").increment(1);
                    continue;
                }
                let msg = Inbound {
                    data: Bytes::copy_from_slice(&buf[..n]),
                    source,
                    via: Via::Udp,
                };
                if inbound.try_send(msg).is_err() {
                    // Overloaded: drop and count rather than queue without end; the peer
                    // retransmits, and calls already up are not slowed down.
                    metrics::counter!(telemetry::SIP_OVERLOAD_DROPS).increment(1);
                }
            }
            // ICMP port unreachable from an earlier send surfaces here on Linux; not fatal.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => {
                tracing::warn!(error = %e, "SIP/UDP receive failed");
            }
        }
    }
}

async fn tcp_acceptor(
    listener: TcpListener,
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
    id: ConnId,
    inbound: mpsc::Sender<Inbound>,
    t: Transports,
    cancel: CancellationToken,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    {
        let mut conns = t.tcp.lock().expect("tcp table lock");
        conns.by_id.insert(id, (peer, tx));
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

    #[test]
    fn a_grant_below_twice_the_request_is_the_rmem_max_cap() {
        assert_eq!(recv_buffer_verdict(4096, 8192), RecvBuffer::Granted);
        assert_eq!(recv_buffer_verdict(8 << 20, 8 << 20), RecvBuffer::Capped);
        assert_eq!(recv_buffer_verdict(8 << 20, 425_984), RecvBuffer::Capped);
    }

    #[tokio::test]
    async fn the_udp_socket_gets_the_receive_buffer_asked_for() {
        let b = bind(Some("127.0.0.1:0".parse().unwrap()), None, 64 << 10)
            .await
            .unwrap();
        let (sock, _) = b.udp.unwrap();
        let granted = socket2::SockRef::from(sock.as_ref())
            .recv_buffer_size()
            .unwrap();
        // Linux grants twice the request (rmem_max is at least 208 KiB by default).
        assert!(granted >= 64 << 10, "granted {granted}");
    }
}
