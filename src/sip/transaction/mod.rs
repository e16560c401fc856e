//! RFC 3261 §17 transactions as sans-IO state machines, one type per kind:
//! [`ServerInviteTx`] (§17.2.1), [`ServerNonInviteTx`] (§17.2.2), [`ClientInviteTx`]
//! (§17.1.1) and [`ClientNonInviteTx`] (§17.1.2). Each takes `now` on every input, keeps
//! its timers in a [`TimerTable`] indexed by the RFC's letters, and is drained with
//! `poll_action` / `poll_timeout`. Matching messages to transactions (branch, sent-by,
//! method, §17.1.3/§17.2.3) is the endpoint's job: it keys its table with [`TxKey`].

mod client;
mod server;
mod timer;

pub use client::{ClientInviteTx, ClientNonInviteTx};
pub use server::{ServerInviteTx, ServerNonInviteTx};
pub use timer::{Timer, TimerTable, Timers};

use bytes::Bytes;

use crate::sip::message::Message;

/// Whether the transport retransmits for us (TCP) or we must (UDP), RFC 3261 §17.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reliability {
    Unreliable,
    Reliable,
}

/// What a transaction asks of its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxAction {
    /// Put these bytes on the wire (a response, a retransmission, an ACK).
    Send(Bytes),
    /// A final response arrived for a client transaction (passed up once).
    Final(u16),
    /// A provisional response arrived for a client transaction.
    Provisional(u16),
    /// Timer B/F (client) or H (server, no ACK) fired: the transaction failed.
    TimedOut,
    /// The transaction is over; the driver forgets it.
    Terminated,
}

/// The server-transaction key of RFC 3261 §17.2.3 (branch with the magic cookie, sent-by,
/// method with ACK folded into INVITE), or the RFC 2543 fallback when the branch lacks
/// the cookie (Request-URI, tags, Call-ID, CSeq number, top Via).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxKey {
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: String,
    },
    Rfc2543 {
        call_id: String,
        from_tag: String,
        cseq: u32,
        method: String,
        via: String,
    },
}

impl TxKey {
    /// The key of a request; `method` is overridden to INVITE for ACK and CANCEL lookups
    /// of the INVITE they refer to (the caller passes the method it wants to match).
    pub fn of_request(req: &Message, method: &str) -> Option<TxKey> {
        let via = req.top_via()?;
        if via.has_rfc3261_branch() {
            return Some(TxKey::Rfc3261 {
                branch: via.branch.clone()?,
                sent_by: via.sent_by().to_ascii_lowercase(),
                method: method.to_string(),
            });
        }
        Some(TxKey::Rfc2543 {
            call_id: req.call_id()?.to_string(),
            from_tag: req
                .from()
                .and_then(|f| f.tag().map(str::to_string))
                .unwrap_or_default(),
            cseq: req.cseq()?.0,
            method: method.to_string(),
            via: req
                .header_values("via")
                .next()?
                .split(";received")
                .next()?
                .to_string(),
        })
    }

    /// The client-transaction key of a response (§17.1.3): branch and CSeq method.
    pub fn of_response(resp: &Message) -> Option<(String, String)> {
        let via = resp.top_via()?;
        Some((via.branch?, resp.cseq()?.1.to_string()))
    }
}
