//! DTMF from the three places callers send it: RFC 4733 telephone-events in RTP, SIP INFO
//! bodies (`application/dtmf-relay`, `application/dtmf`), and tones in the audio itself
//! ([`crate::media::inband`]). Sans-IO; the receiver allocates nothing per packet.

/// A DTMF key: 0-9, *, #, A-D.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digit(u8);

impl Digit {
    pub fn from_char(c: char) -> Option<Digit> {
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Digit(c as u8))
    }

    pub fn as_char(self) -> char {
        self.0 as char
    }

    /// RFC 4733 §3.2 event codes 0–15.
    pub fn from_event(event: u8) -> Option<Digit> {
        let c = match event {
            0..=9 => (b'0' + event) as char,
            10 => '*',
            11 => '#',
            12..=15 => (b'A' + event - 12) as char,
            _ => return None,
        };
        Digit::from_char(c)
    }

    pub fn event(self) -> u8 {
        match self.0 {
            b'0'..=b'9' => self.0 - b'0',
            b'*' => 10,
            b'#' => 11,
            c => c - b'A' + 12,
        }
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Where a digit came from (the `source` label of `qonyrau_dtmf_digits_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    Info,
    Inband,
}

impl DigitSource {
    pub fn label(self) -> &'static str {
        match self {
            DigitSource::Rfc4733 => "rfc4733",
            DigitSource::Info => "info",
            DigitSource::Inband => "inband",
        }
    }
}

/// RFC 4733 receiver. One event is one RTP timestamp (§2.5.1.2): its start packet, its
/// updates and the three end packets all carry it, so a digit is reported on the first
/// packet seen with a new timestamp. Lost start packets (only updates or ends arrive),
/// duplicates and the retransmitted end packets are thus counted once.
#[derive(Debug, Default)]
pub struct Rfc4733Receiver {
    current: Option<u32>,
}

impl Rfc4733Receiver {
    /// Feed one telephone-event payload with its RTP timestamp; returns a new digit.
    pub fn handle_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<Digit> {
        if payload.len() < 4 {
            return None;
        }
        if self.current == Some(timestamp) {
            return None;
        }
        let digit = Digit::from_event(payload[0])?;
        self.current = Some(timestamp);
        Some(digit)
    }
}

/// Write an RFC 4733 event payload: event, E bit, volume, duration (in samples).
pub fn write_event(buf: &mut [u8; 4], digit: Digit, end: bool, volume: u8, duration: u16) {
    buf[0] = digit.event();
    buf[1] = (if end { 0x80 } else { 0 }) | (volume & 0x3f);
    buf[2..4].copy_from_slice(&duration.to_be_bytes());
}

/// The digit of a SIP INFO body: `Signal=5` lines (application/dtmf-relay) or a bare key
/// (application/dtmf). Content-Type decides which.
pub fn parse_info(content_type: &str, body: &str) -> Option<Digit> {
    match content_type {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("signal") {
                return None;
            }
            let v = v.trim();
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Digit::from_char(c.to_ascii_uppercase()),
                _ => v.parse::<u8>().ok().and_then(Digit::from_event),
            }
        }),
        "application/dtmf" => {
            let v = body.trim();
            let mut chars = v.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Digit::from_char(c.to_ascii_uppercase()),
                _ => v.parse::<u8>().ok().and_then(Digit::from_event),
            }
        }
        _ => None,
    }
}

/// For the fuzz target.
pub fn fuzz_rfc4733(data: &[u8]) {
    let mut r = Rfc4733Receiver::default();
    for chunk in data.chunks(8) {
        if chunk.len() >= 4 {
            let ts = u32::from(chunk[0]);
            let _ = r.handle_packet(ts, chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(d: char, end: bool, dur: u16) -> [u8; 4] {
        let mut b = [0u8; 4];
        write_event(&mut b, Digit::from_char(d).unwrap(), end, 10, dur);
        b
    }

    #[test]
    fn a_digit_with_updates_and_three_end_packets_counts_once() {
        let mut r = Rfc4733Receiver::default();
        let mut got = vec![];
        for (ts, p) in [
            (1000, event('1', false, 160)),
            (1000, event('1', false, 320)),
            (1000, event('1', true, 480)),
            (1000, event('1', true, 480)),
            (1000, event('1', true, 480)),
        ] {
            got.extend(r.handle_packet(ts, &p));
        }
        assert_eq!(got, [Digit::from_char('1').unwrap()]);
    }

    #[test]
    fn the_same_key_twice_is_two_digits_and_lost_starts_still_count() {
        let mut r = Rfc4733Receiver::default();
        let mut got = String::new();
        // First press: start lost, only end packets arrive. Second press: all arrive.
        for (ts, p) in [
            (1000, event('5', true, 800)),
            (1000, event('5', true, 800)),
            (3000, event('5', false, 160)),
            (3000, event('5', true, 480)),
            (5000, event('#', true, 480)),
        ] {
            got.extend(r.handle_packet(ts, &p).map(|d| d.as_char()));
        }
        assert_eq!(got, "55#");
    }

    #[test]
    fn reordered_packets_of_one_event_do_not_duplicate() {
        let mut r = Rfc4733Receiver::default();
        let a = r.handle_packet(10, &event('9', false, 320));
        let b = r.handle_packet(10, &event('9', false, 160));
        assert_eq!((a.map(|d| d.as_char()), b), (Some('9'), None));
    }

    #[test]
    fn events_outside_dtmf_and_short_payloads_are_ignored() {
        let mut r = Rfc4733Receiver::default();
        assert_eq!(r.handle_packet(1, &[16, 0x80, 0, 160]), None);
        assert_eq!(r.handle_packet(2, &[1, 0]), None);
    }

    #[test]
    fn info_bodies() {
        let d = |c| Digit::from_char(c);
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            d('5')
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal= *\r\n"),
            d('*')
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=11\r\n"),
            d('#')
        );
        assert_eq!(parse_info("application/dtmf", "7"), d('7'));
        assert_eq!(parse_info("application/dtmf-relay", "Duration=160"), None);
        assert_eq!(parse_info("text/plain", "Signal=5"), None);
    }

    #[test]
    fn event_codes_round_trip() {
        for e in 0..16 {
            assert_eq!(Digit::from_event(e).unwrap().event(), e);
        }
    }
}
