//! SDP offer/answer for one audio stream (RFC 4566, RFC 3264): PCMU, PCMA and
//! telephone-event/8000 (RFC 4733). Sans-IO, no allocation beyond the strings it returns.
//!
//! We answer the first audio m-line with the first codec *in the offerer's order* that we
//! support, keep telephone-event with the offerer's payload type, answer other m-lines with
//! port 0, and mirror the direction (sendonly -> recvonly: the caller put us on hold).
//! Deliberately not supported: multiple audio streams, ICE, crypto, codecs needing
//! transcoding. They are answered with port 0 or refused with [`SdpError::NoCommonCodec`].
//!
//! RTCP goes to the RTP port + 1 (RFC 3550 §11), or to the port of `a=rtcp:` (RFC 3605), or
//! to the RTP port itself when both sides said `a=rtcp-mux` (RFC 5761 §5.1.1): our offers
//! carry it, and our answer does when the offer did.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Media direction from *our* side after negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether we may send RTP.
    pub fn we_send(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// The outcome of an offer/answer exchange, as the media leg needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP (the remote m-line port and c-line address).
    pub remote: SocketAddr,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
    /// Our direction.
    pub direction: Direction,
    /// RTP and RTCP share one port (RFC 5761): the offer (or the answer to our offer, which
    /// always offers it) carried `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// The port of `a=rtcp:` (RFC 3605), when the peer's RTCP is not at RTP port + 1.
    pub rtcp_port: Option<u16>,
    /// Position of the audio m-line and how many m-lines the offer had (for the answer).
    audio_index: usize,
    media_count: usize,
    other_media: Vec<String>,
}

impl Negotiated {
    /// Where to send RTCP: the RTP address when muxed, else the `a=rtcp:` port or RTP + 1.
    pub fn rtcp_remote(&self) -> SocketAddr {
        if self.rtcp_mux {
            return self.remote;
        }
        let port = self
            .rtcp_port
            .unwrap_or_else(|| self.remote.port().wrapping_add(1));
        SocketAddr::new(self.remote.ip(), port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP is not valid: {0}")]
    Malformed(&'static str),
    #[error("no audio stream in the SDP")]
    NoAudio,
    #[error("no codec in common (we take PCMU or PCMA)")]
    NoCommonCodec,
}

struct Media<'a> {
    kind: &'a str,
    port: u16,
    proto: &'a str,
    formats: Vec<&'a str>,
    rtpmap: Vec<(u8, String)>,
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    rtcp_mux: bool,
    rtcp_port: Option<u16>,
}

struct Parsed<'a> {
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    media: Vec<Media<'a>>,
}

fn parse(sdp: &str) -> Result<Parsed<'_>, SdpError> {
    let mut parsed = Parsed {
        connection: None,
        direction: None,
        media: Vec::new(),
    };
    let mut saw_version = false;
    for raw in sdp.lines() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (kind, value) = line
            .split_once('=')
            .ok_or(SdpError::Malformed("a line without '='"))?;
        match kind {
            "v" => {
                if value.trim() != "0" {
                    return Err(SdpError::Malformed("v= must be 0"));
                }
                saw_version = true;
            }
            "c" => {
                let ip = parse_connection(value)?;
                match parsed.media.last_mut() {
                    Some(m) => m.connection = Some(ip),
                    None => parsed.connection = Some(ip),
                }
            }
            "m" => {
                let mut parts = value.split_whitespace();
                let kind = parts.next().ok_or(SdpError::Malformed("empty m= line"))?;
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok())
                    .ok_or(SdpError::Malformed("bad m= port"))?;
                let proto = parts
                    .next()
                    .ok_or(SdpError::Malformed("m= without protocol"))?;
                parsed.media.push(Media {
                    kind,
                    port,
                    proto,
                    formats: parts.collect(),
                    rtpmap: Vec::new(),
                    connection: None,
                    direction: None,
                    rtcp_mux: false,
                    rtcp_port: None,
                });
            }
            "a" => {
                let dir = match value.trim() {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    match parsed.media.last_mut() {
                        Some(m) => m.direction = Some(d),
                        None => parsed.direction = Some(d),
                    }
                } else if value.trim() == "rtcp-mux" {
                    if let Some(m) = parsed.media.last_mut() {
                        m.rtcp_mux = true;
                    }
                } else if let Some(rtcp) = value.strip_prefix("rtcp:") {
                    // RFC 3605: "a=rtcp:port [IN IP4 addr]"; we take the port.
                    let port = rtcp.split_whitespace().next().and_then(|p| p.parse().ok());
                    if let (Some(m), Some(port)) = (parsed.media.last_mut(), port) {
                        m.rtcp_port = Some(port);
                    }
                } else if let Some(map) = value.strip_prefix("rtpmap:") {
                    let (pt, enc) = map
                        .split_once(' ')
                        .ok_or(SdpError::Malformed("bad a=rtpmap"))?;
                    let pt: u8 = pt
                        .trim()
                        .parse()
                        .map_err(|_| SdpError::Malformed("bad a=rtpmap"))?;
                    if let Some(m) = parsed.media.last_mut() {
                        m.rtpmap.push((pt, enc.trim().to_ascii_lowercase()));
                    }
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(SdpError::Malformed("no v= line"));
    }
    Ok(parsed)
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut parts = value.split_whitespace();
    let (net, _addrtype, addr) = (parts.next(), parts.next(), parts.next());
    if net != Some("IN") {
        return Err(SdpError::Malformed("c= network type must be IN"));
    }
    let addr = addr.ok_or(SdpError::Malformed("c= without address"))?;
    addr.split('/')
        .next()
        .unwrap_or(addr)
        .parse()
        .map_err(|_| SdpError::Malformed("c= address is not an IP address"))
}

/// Negotiate an offer: what we will send and receive.
pub fn negotiate(offer: &str) -> Result<Negotiated, SdpError> {
    let parsed = parse(offer)?;
    let media_count = parsed.media.len();
    let (audio_index, audio) = parsed
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.kind == "audio" && m.port != 0 && m.proto.starts_with("RTP/AVP"))
        .ok_or(SdpError::NoAudio)?;
    let encoding = |pt: u8| -> Option<String> {
        audio
            .rtpmap
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, e)| e.clone())
    };
    let mut codec = None;
    let mut telephone_event = None;
    for f in &audio.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let enc = encoding(pt);
        let found = match (pt, enc.as_deref()) {
            (_, Some(e)) if e.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (_, Some(e)) if e.starts_with("pcma/8000") => Some(Codec::Pcma),
            (0, None) => Some(Codec::Pcmu),
            (8, None) => Some(Codec::Pcma),
            _ => None,
        };
        if codec.is_none() {
            codec = found;
        }
        if telephone_event.is_none() && enc.as_deref() == Some("telephone-event/8000") {
            telephone_event = Some(pt);
        }
    }
    let codec = codec.ok_or(SdpError::NoCommonCodec)?;
    let ip = audio
        .connection
        .or(parsed.connection)
        .ok_or(SdpError::Malformed("no c= line for the audio stream"))?;
    let offered = audio
        .direction
        .or(parsed.direction)
        .unwrap_or(Direction::SendRecv);
    // RFC 3264 §8.4 (and the older RFC 2543 habit of c=0.0.0.0): hold.
    let held = ip.is_unspecified();
    let direction = match (offered, held) {
        (_, true) | (Direction::Inactive, _) => Direction::Inactive,
        (Direction::SendOnly, _) => Direction::RecvOnly,
        (Direction::RecvOnly, _) => Direction::SendOnly,
        (Direction::SendRecv, _) => Direction::SendRecv,
    };
    let other_media = parsed
        .media
        .iter()
        .map(|m| format!("{} 0 {} {}", m.kind, m.proto, m.formats.join(" ")))
        .collect();
    Ok(Negotiated {
        remote: SocketAddr::new(ip, audio.port),
        codec,
        telephone_event,
        direction,
        rtcp_mux: audio.rtcp_mux,
        rtcp_port: audio.rtcp_port.filter(|p| *p != 0),
        audio_index,
        media_count,
        other_media,
    })
}

/// Parse the answer to *our* offer (INVITE without SDP: our offer in the 200, theirs in
/// the ACK). The answerer must pick from what we offered.
pub fn parse_answer(answer: &str) -> Result<Negotiated, SdpError> {
    let mut n = negotiate(answer)?;
    // Directions in an answer are already the answerer's view of the same stream.
    n.direction = match n.direction {
        Direction::RecvOnly => Direction::SendOnly,
        Direction::SendOnly => Direction::RecvOnly,
        d => d,
    };
    Ok(n)
}

fn origin(out: &mut String, ip: IpAddr, session_id: u64, version: u64) {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "v=0\r\no=qonyrau {session_id} {version} IN {family} {ip}\r\ns=qonyrau\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
    );
}

/// Our answer to a negotiated offer.
pub fn build_answer(
    n: &Negotiated,
    ip: IpAddr,
    port: u16,
    session_id: u64,
    version: u64,
) -> String {
    let mut out = String::with_capacity(256);
    origin(&mut out, ip, session_id, version);
    for i in 0..n.media_count {
        if i != n.audio_index {
            let _ = write!(out, "m={}\r\n", n.other_media[i]);
            continue;
        }
        let pt = n.codec.payload_type();
        let _ = write!(out, "m=audio {port} RTP/AVP {pt}");
        if let Some(te) = n.telephone_event {
            let _ = write!(out, " {te}");
        }
        let _ = write!(out, "\r\na=rtpmap:{pt} {}/8000\r\n", n.codec.name());
        if let Some(te) = n.telephone_event {
            let _ = write!(
                out,
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
            );
        }
        let _ = write!(out, "a=ptime:20\r\na={}\r\n", n.direction.attr());
        if n.rtcp_mux {
            out.push_str("a=rtcp-mux\r\n");
        }
    }
    out
}

/// Our offer (an INVITE without SDP, and later calls to operators).
pub fn build_offer(ip: IpAddr, port: u16, session_id: u64, version: u64) -> String {
    let mut out = String::with_capacity(256);
    origin(&mut out, ip, session_id, version);
    let _ = write!(
        out,
        "m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
         a=rtcp-mux\r\n"
    );
    out
}

/// For the fuzz target: parse and negotiate, ignore the result.
pub fn fuzz_sdp(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(n) = negotiate(text) {
            let _ = build_answer(&n, IpAddr::from([127, 0, 0, 1]), 20000, 1, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    #[test]
    fn the_offerers_first_supported_codec_wins() {
        let n = negotiate(OFFER).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote, "127.0.0.1:30000".parse().unwrap());
        assert_eq!(n.direction, Direction::SendRecv);
        let answer = build_answer(&n, IpAddr::from([127, 0, 0, 1]), 20000, 7, 1);
        assert!(
            answer.contains("m=audio 20000 RTP/AVP 8 101\r\n"),
            "{answer}"
        );
        assert!(answer.contains("a=rtpmap:101 telephone-event/8000"));
        assert!(answer.contains("a=sendrecv"));
    }

    #[test]
    fn static_payload_types_need_no_rtpmap_and_dynamic_te_keeps_its_number() {
        let offer = OFFER
            .replace(
                "m=audio 30000 RTP/AVP 8 0 101",
                "m=audio 30000 RTP/AVP 18 0 96",
            )
            .replace("a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n", "")
            .replace("101", "96");
        let n = negotiate(&offer).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.telephone_event, Some(96));
    }

    #[test]
    fn no_common_codec_is_refused() {
        let offer = OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18 101");
        assert_eq!(negotiate(&offer), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn hold_and_resume_directions_are_mirrored() {
        let hold = format!("{OFFER}a=sendonly\r\n");
        assert_eq!(negotiate(&hold).unwrap().direction, Direction::RecvOnly);
        let inactive = format!("{OFFER}a=inactive\r\n");
        assert_eq!(negotiate(&inactive).unwrap().direction, Direction::Inactive);
        let old_hold = OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert_eq!(negotiate(&old_hold).unwrap().direction, Direction::Inactive);
        let n = negotiate(&hold).unwrap();
        assert!(build_answer(&n, IpAddr::from([127, 0, 0, 1]), 1, 1, 2).contains("a=recvonly"));
    }

    #[test]
    fn video_is_refused_with_port_zero_and_audio_answered() {
        let offer = OFFER.replace("m=audio", "m=video 30002 RTP/AVP 96\r\nm=audio");
        let n = negotiate(&offer).unwrap();
        let answer = build_answer(&n, IpAddr::from([127, 0, 0, 1]), 20000, 1, 1);
        let m_lines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(
            m_lines,
            ["m=video 0 RTP/AVP 96", "m=audio 20000 RTP/AVP 8 101"]
        );
    }

    #[test]
    fn ipv6_and_media_level_connection() {
        let offer = OFFER.replace("c=IN IP4 127.0.0.1\r\n", "") + "c=IN IP6 ::1\r\n";
        assert_eq!(
            negotiate(&offer).unwrap().remote,
            "[::1]:30000".parse().unwrap()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "hello",
            "v=1\r\n",
            "v=0\r\nm=audio x RTP/AVP 0\r\n",
            "v=0\r\nc=IN IP4 nope\r\n",
        ] {
            assert!(negotiate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rtcp_mux_in_the_offer_is_answered_and_muxes() {
        let n = negotiate(OFFER).unwrap();
        assert!(!n.rtcp_mux);
        assert_eq!(
            n.rtcp_remote(),
            "127.0.0.1:30001".parse().unwrap(),
            "RTP + 1"
        );
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert!(!build_answer(&n, ip, 20000, 1, 1).contains("rtcp-mux"));
        let n = negotiate(&format!("{OFFER}a=rtcp-mux\r\n")).unwrap();
        assert!(n.rtcp_mux);
        assert_eq!(n.rtcp_remote(), n.remote, "muxed: the RTP port");
        assert!(build_answer(&n, ip, 20000, 1, 1).ends_with("a=rtcp-mux\r\n"));
        let n = negotiate(&format!("{OFFER}a=rtcp:40001 IN IP4 127.0.0.1\r\n")).unwrap();
        assert_eq!(
            n.rtcp_remote(),
            "127.0.0.1:40001".parse().unwrap(),
            "RFC 3605"
        );
    }

    #[test]
    fn our_offer_muxes_only_if_the_answer_does() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let offer = build_offer(ip, 20000, 1, 1);
        assert!(offer.contains("a=rtcp-mux\r\n"));
        assert!(parse_answer(&offer).unwrap().rtcp_mux);
        let plain = parse_answer(&offer.replace("a=rtcp-mux\r\n", "")).unwrap();
        assert!(!plain.rtcp_mux);
        assert_eq!(plain.rtcp_remote().port(), 20001);
    }

    #[test]
    fn our_offer_round_trips_through_parse_answer() {
        let offer = build_offer(IpAddr::from([127, 0, 0, 1]), 20000, 1, 1);
        let n = parse_answer(&offer).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.telephone_event, Some(101));
    }
}
