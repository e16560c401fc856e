//! Whether a new INVITE may become a call, and what the endpoint answers to the in-dialog
//! requests it handles itself, sans-IO: shutting down, the per-source rate and the call
//! limit refuse with 503 and a Retry-After; a SIP INFO carries a digit (200), is a
//! keep-alive (empty, 200) or is of a type we do not read (415 with Accept).

use std::time::Duration;

use crate::media::dtmf::{parse_info, Digit};
use crate::sip::message::Message;
use crate::sip::rate_limit::Admission;

/// Why a new call is refused: the `qonyrau_calls_refused_total{reason}` label and the
/// seconds for Retry-After.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub retry_after: u32,
}

/// The admission rules in order: shutting down, then the source's rate, then the limit.
pub fn admit(
    shutting_down: bool,
    rate: Admission,
    active_calls: usize,
    max_calls: usize,
    retry_after: u32,
) -> Result<(), Refusal> {
    if shutting_down {
        return Err(Refusal {
            reason: "shutting_down",
            retry_after,
        });
    }
    if let Admission::Limited { retry_after } = rate {
        return Err(Refusal {
            reason: "rate_limited",
            retry_after: secs_up(retry_after),
        });
    }
    if active_calls >= max_calls {
        return Err(Refusal {
            reason: "overload",
            retry_after,
        });
    }
    Ok(())
}

fn secs_up(d: Duration) -> u32 {
    d.as_secs()
        .saturating_add(u64::from(d.subsec_nanos() > 0))
        .clamp(1, 3600) as u32
}

/// What an in-dialog INFO means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoAnswer {
    /// A DTMF digit (application/dtmf-relay or application/dtmf): 200, digit to the call.
    Digit(Digit),
    /// No body: a keep-alive, 200.
    KeepAlive,
    /// A body we do not read: 415 with Accept.
    Unsupported,
}

impl InfoAnswer {
    pub fn of(req: &Message) -> InfoAnswer {
        let digit = req
            .content_type()
            .and_then(|ct| req.body_text().and_then(|b| parse_info(&ct, b)));
        match (digit, req.body.is_empty()) {
            (Some(d), _) => InfoAnswer::Digit(d),
            (None, true) => InfoAnswer::KeepAlive,
            (None, false) => InfoAnswer::Unsupported,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            InfoAnswer::Digit(_) | InfoAnswer::KeepAlive => 200,
            InfoAnswer::Unsupported => 415,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutting_down_comes_before_the_rate_and_the_rate_before_the_limit() {
        let limited = Admission::Limited {
            retry_after: Duration::from_millis(200),
        };
        assert_eq!(
            admit(true, limited, 9, 1, 5).unwrap_err().reason,
            "shutting_down"
        );
        assert_eq!(
            admit(false, limited, 9, 1, 5).unwrap_err(),
            Refusal {
                reason: "rate_limited",
                retry_after: 1
            }
        );
        assert_eq!(
            admit(false, Admission::Allowed, 1, 1, 5)
                .unwrap_err()
                .reason,
            "overload"
        );
        assert!(admit(false, Admission::Allowed, 0, 1, 5).is_ok());
    }

    #[test]
    fn an_info_is_a_digit_a_keep_alive_or_unsupported() {
        let info = |ct: &str, body: &str| {
            Message::parse(format!("INFO sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INFO\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).unwrap()
        };
        assert_eq!(
            InfoAnswer::of(&info(
                "application/dtmf-relay",
                "Signal=5\r\nDuration=160\r\n"
            )),
            InfoAnswer::Digit(Digit::from_char('5').unwrap())
        );
        assert_eq!(
            InfoAnswer::of(&info("application/dtmf-relay", "")).status(),
            200
        );
        assert_eq!(InfoAnswer::of(&info("text/plain", "hello")).status(), 415);
    }
}
