//! REFER (RFC 3515) as the transferee's side sees it, sans-IO: the target named by
//! `Refer-To`, and the implicit subscription whose NOTIFYs carry the transfer's progress as
//! a `message/sipfrag` status line (§2.4.4–§2.4.7). The UAC core ([`crate::sip::uac`])
//! sends the NOTIFYs; the call core decides what the transfer does and which status it
//! reports.

use crate::sip::message::Message;
use crate::sip::response::reason;
use crate::sip::uri::{NameAddr, SipUri};

/// How long the subscription lives unless a final NOTIFY ends it sooner (seconds).
pub const SUBSCRIPTION_EXPIRES: u32 = 60;

/// Where a REFER asks us to send the other party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferTo {
    /// The URI as written (without header parameters such as `?Replaces=`).
    pub uri: String,
    /// Its user part (the extension or number), when it has one.
    pub user: Option<String>,
    /// The REFER asked to replace a dialog (attended transfer, RFC 3891): not supported.
    pub replaces: bool,
}

/// The `Refer-To` of a REFER: exactly one (§2.4.1), a SIP URI. Errors are the status to
/// answer (400: missing or several; 416: not a SIP URI).
pub fn refer_target(req: &Message) -> Result<ReferTo, u16> {
    let mut values = req.header_values("refer-to");
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(400);
    };
    let addr = NameAddr::parse(value).ok_or(400u16)?;
    let (uri, headers) = match addr.uri.split_once('?') {
        Some((uri, headers)) => (uri.to_string(), headers.to_ascii_lowercase()),
        None => (addr.uri.clone(), String::new()),
    };
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    if scheme != "sip" && scheme != "sips" {
        return Err(416);
    }
    let user = SipUri::parse(&uri)
        .and_then(|u| u.user)
        .filter(|u| !u.is_empty());
    Ok(ReferTo {
        uri,
        user,
        replaces: headers.contains("replaces="),
    })
}

/// The implicit subscription a REFER creates: it reports 100 Trying at once, then progress,
/// and ends with the first final status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferSubscription {
    /// `id` of the Event header: the REFER's CSeq, needed when a dialog has seen more than
    /// one REFER (§2.4.6); the first goes without it.
    id: Option<u32>,
    terminated: bool,
}

/// The headers and body of one NOTIFY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyContent {
    pub event: String,
    pub subscription_state: String,
    pub content_type: &'static str,
    pub body: String,
}

impl ReferSubscription {
    /// A subscription for the REFER with CSeq `refer_cseq`; `first` when it is the
    /// dialog's first REFER.
    pub fn new(refer_cseq: u32, first: bool) -> ReferSubscription {
        ReferSubscription {
            id: (!first).then_some(refer_cseq),
            terminated: false,
        }
    }

    /// The NOTIFY reporting `status` (1xx: in progress; ≥ 200: the final one, which
    /// terminates the subscription). `None` once terminated: nothing more is sent.
    pub fn notify(&mut self, status: u16) -> Option<NotifyContent> {
        if self.terminated {
            return None;
        }
        let final_status = status >= 200;
        self.terminated = final_status;
        let event = match self.id {
            Some(id) => format!("refer;id={id}"),
            None => "refer".to_string(),
        };
        let subscription_state = if final_status {
            "terminated;reason=noresource".to_string()
        } else {
            format!("active;expires={SUBSCRIPTION_EXPIRES}")
        };
        Some(NotifyContent {
            event,
            subscription_state,
            content_type: "message/sipfrag;version=2.0",
            body: format!("SIP/2.0 {status} {}\r\n", reason(status)),
        })
    }

    pub fn is_terminated(&self) -> bool {
        self.terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refer(headers: &str) -> Message {
        let text = format!(
            "REFER sip:qonyrau@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKr1\r\nFrom: <sip:2001@127.0.0.1>;tag=a\r\nTo: <sip:q@127.0.0.1>;tag=b\r\nCall-ID: c\r\nCSeq: 3 REFER\r\n{headers}\r\n"
        );
        Message::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_target_is_the_refer_to_uri_and_its_user() {
        let t = refer_target(&refer("Refer-To: <sip:2002@127.0.0.1:5070>\r\n")).unwrap();
        assert_eq!(t.uri, "sip:2002@127.0.0.1:5070");
        assert_eq!(t.user.as_deref(), Some("2002"));
        assert!(!t.replaces);
        let bare = refer_target(&refer("Refer-To: sip:2003@example.org\r\n")).unwrap();
        assert_eq!(bare.user.as_deref(), Some("2003"));
    }

    #[test]
    fn a_replaces_header_marks_an_attended_transfer() {
        let t = refer_target(&refer(
            "Refer-To: <sip:2002@h?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n",
        ))
        .unwrap();
        assert_eq!(t.uri, "sip:2002@h");
        assert!(t.replaces);
    }

    #[test]
    fn none_several_or_a_non_sip_refer_to_is_refused() {
        assert_eq!(refer_target(&refer("")), Err(400));
        assert_eq!(
            refer_target(&refer("Refer-To: <sip:1@h>\r\nRefer-To: <sip:2@h>\r\n")),
            Err(400)
        );
        assert_eq!(
            refer_target(&refer("Refer-To: <tel:+77011234567>\r\n")),
            Err(416)
        );
    }

    #[test]
    fn progress_then_one_final_notify_that_terminates_the_subscription() {
        let mut sub = ReferSubscription::new(3, true);
        let trying = sub.notify(100).unwrap();
        assert_eq!(trying.event, "refer");
        assert_eq!(trying.subscription_state, "active;expires=60");
        assert_eq!(trying.content_type, "message/sipfrag;version=2.0");
        assert_eq!(trying.body, "SIP/2.0 100 Trying\r\n");
        let ok = sub.notify(200).unwrap();
        assert_eq!(ok.subscription_state, "terminated;reason=noresource");
        assert_eq!(ok.body, "SIP/2.0 200 OK\r\n");
        assert!(sub.is_terminated());
        assert_eq!(sub.notify(486), None, "nothing after the final NOTIFY");
    }

    #[test]
    fn a_second_refer_in_the_dialog_names_its_cseq_as_the_event_id() {
        let mut sub = ReferSubscription::new(7, false);
        let n = sub.notify(486).unwrap();
        assert_eq!(n.event, "refer;id=7");
        assert_eq!(n.body, "SIP/2.0 486 Busy Here\r\n");
    }
}
