//! Server transactions: INVITE (RFC 3261 §17.2.1, Figure 7) and non-INVITE (§17.2.2,
//! Figure 8). The transaction user hands responses in with `respond`; retransmitted
//! requests are absorbed by resending the last response.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Reliability, Timer, TimerTable, Timers, TxAction};

#[derive(Debug)]
enum InviteState {
    /// No final response yet; `last` is the last provisional sent.
    Proceeding {
        last: Option<Bytes>,
    },
    /// A 3xx–6xx was sent; it is resent on Timer G until the ACK or Timer H.
    Completed {
        response: Bytes,
        g_interval: Duration,
    },
    /// ACK received; Timer I absorbs ACK retransmissions.
    Confirmed,
    Terminated,
}

/// INVITE server transaction.
#[derive(Debug)]
pub struct ServerInviteTx {
    state: InviteState,
    reliability: Reliability,
    timers: Timers,
    table: TimerTable,
    out: VecDeque<TxAction>,
}

impl ServerInviteTx {
    pub fn new(_now: Instant, reliability: Reliability, timers: Timers) -> Self {
        ServerInviteTx {
            state: InviteState::Proceeding { last: None },
            reliability,
            timers,
            table: TimerTable::default(),
            out: VecDeque::new(),
        }
    }

    /// Send a response. 1xx keeps the transaction proceeding; 2xx ends it (the dialog
    /// layer retransmits the 2xx, §13.3.1.4); 3xx–6xx start Timers G and H.
    pub fn respond(&mut self, now: Instant, code: u16, bytes: Bytes) {
        if !matches!(self.state, InviteState::Proceeding { .. }) {
            return;
        }
        self.out.push_back(TxAction::Send(bytes.clone()));
        match code {
            100..=199 => self.state = InviteState::Proceeding { last: Some(bytes) },
            200..=299 => self.terminate(),
            _ => {
                if self.reliability == Reliability::Unreliable {
                    self.table.set(Timer::G, now + self.timers.t1);
                }
                self.table.set(Timer::H, now + self.timers.t64());
                self.state = InviteState::Completed {
                    response: bytes,
                    g_interval: self.timers.t1,
                };
            }
        }
    }

    /// The INVITE arrived again: resend the last response, if any.
    pub fn handle_retransmission(&mut self, _now: Instant) {
        match &self.state {
            InviteState::Proceeding { last: Some(r) } => {
                self.out.push_back(TxAction::Send(r.clone()))
            }
            InviteState::Completed { response, .. } => {
                self.out.push_back(TxAction::Send(response.clone()))
            }
            _ => {}
        }
    }

    /// An ACK for the non-2xx final response.
    pub fn handle_ack(&mut self, now: Instant) {
        if let InviteState::Completed { .. } = self.state {
            self.table.stop(Timer::G);
            self.table.stop(Timer::H);
            self.state = InviteState::Confirmed;
            match self.reliability {
                Reliability::Unreliable => self.table.set(Timer::I, now + self.timers.t4),
                Reliability::Reliable => self.terminate(),
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.table.expired(now) {
            match (timer, &mut self.state) {
                (
                    Timer::G,
                    InviteState::Completed {
                        response,
                        g_interval,
                    },
                ) => {
                    self.out.push_back(TxAction::Send(response.clone()));
                    *g_interval = (*g_interval * 2).min(self.timers.t2);
                    let next = *g_interval;
                    self.table.set(Timer::G, now + next);
                }
                (Timer::H, InviteState::Completed { .. }) => {
                    self.out.push_back(TxAction::TimedOut);
                    self.terminate();
                }
                (Timer::I, InviteState::Confirmed) => self.terminate(),
                _ => {}
            }
        }
    }

    pub fn poll_action(&mut self) -> Option<TxAction> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_deadline()
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, InviteState::Terminated)
    }

    /// True once a final response was sent (CANCEL then changes nothing, §9.2).
    pub fn has_final(&self) -> bool {
        !matches!(self.state, InviteState::Proceeding { .. })
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = InviteState::Terminated;
        self.out.push_back(TxAction::Terminated);
    }
}

#[derive(Debug)]
enum NonInviteState {
    Trying,
    Proceeding { last: Bytes },
    Completed { response: Bytes },
    Terminated,
}

/// Non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInviteTx {
    state: NonInviteState,
    reliability: Reliability,
    timers: Timers,
    table: TimerTable,
    out: VecDeque<TxAction>,
}

impl ServerNonInviteTx {
    pub fn new(_now: Instant, reliability: Reliability, timers: Timers) -> Self {
        ServerNonInviteTx {
            state: NonInviteState::Trying,
            reliability,
            timers,
            table: TimerTable::default(),
            out: VecDeque::new(),
        }
    }

    pub fn respond(&mut self, now: Instant, code: u16, bytes: Bytes) {
        if matches!(
            self.state,
            NonInviteState::Completed { .. } | NonInviteState::Terminated
        ) {
            return;
        }
        self.out.push_back(TxAction::Send(bytes.clone()));
        if code < 200 {
            self.state = NonInviteState::Proceeding { last: bytes };
            return;
        }
        match self.reliability {
            Reliability::Unreliable => {
                self.table.set(Timer::J, now + self.timers.t64());
                self.state = NonInviteState::Completed { response: bytes };
            }
            Reliability::Reliable => self.terminate(),
        }
    }

    pub fn handle_retransmission(&mut self, _now: Instant) {
        match &self.state {
            NonInviteState::Proceeding { last } => self.out.push_back(TxAction::Send(last.clone())),
            NonInviteState::Completed { response } => {
                self.out.push_back(TxAction::Send(response.clone()))
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(Timer::J) = self.table.expired(now) {
            self.terminate();
        }
    }

    pub fn poll_action(&mut self) -> Option<TxAction> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.next_deadline()
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, NonInviteState::Terminated)
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = NonInviteState::Terminated;
        self.out.push_back(TxAction::Terminated);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn drive(
        t0: Instant,
        poll_timeout: impl Fn(&ServerInviteTx) -> Option<Instant>,
        tx: &mut ServerInviteTx,
    ) -> (Vec<u128>, Option<u128>) {
        let mut sent = vec![];
        let mut timed_out = None;
        while let Some(t) = poll_timeout(tx) {
            tx.handle_timeout(t);
            while let Some(a) = tx.poll_action() {
                match a {
                    TxAction::Send(_) => sent.push((t - t0).as_millis()),
                    TxAction::TimedOut => timed_out = Some((t - t0).as_millis()),
                    _ => {}
                }
            }
        }
        (sent, timed_out)
    }

    #[test]
    fn final_response_is_retransmitted_until_timer_h_over_udp() {
        let t0 = Instant::now();
        let mut tx = ServerInviteTx::new(t0, Reliability::Unreliable, Timers::default());
        tx.respond(t0, 486, Bytes::from_static(b"486"));
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"486")))
        );
        let (sent, timed_out) = drive(t0, |t| t.poll_timeout(), &mut tx);
        assert_eq!(
            sent,
            [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(timed_out, Some(32000));
        assert!(tx.is_terminated());
    }

    #[test]
    fn over_tcp_the_final_response_is_sent_once_and_h_still_runs() {
        let t0 = Instant::now();
        let mut tx = ServerInviteTx::new(t0, Reliability::Reliable, Timers::default());
        tx.respond(t0, 486, Bytes::from_static(b"486"));
        tx.poll_action();
        let (sent, timed_out) = drive(t0, |t| t.poll_timeout(), &mut tx);
        assert!(sent.is_empty());
        assert_eq!(timed_out, Some(32000));
    }

    #[test]
    fn ack_stops_retransmission_and_timer_i_absorbs_the_rest() {
        let t0 = Instant::now();
        let mut tx = ServerInviteTx::new(t0, Reliability::Unreliable, Timers::default());
        tx.respond(t0, 487, Bytes::from_static(b"487"));
        tx.poll_action();
        tx.handle_timeout(t0 + Duration::from_millis(500));
        assert!(matches!(tx.poll_action(), Some(TxAction::Send(_))));
        tx.handle_ack(t0 + Duration::from_millis(600));
        assert_eq!(
            tx.poll_timeout(),
            Some(t0 + Duration::from_millis(5600)),
            "Timer I = T4"
        );
        tx.handle_retransmission(t0 + Duration::from_millis(700));
        assert_eq!(tx.poll_action(), None, "nothing resent once confirmed");
        tx.handle_timeout(t0 + Duration::from_millis(5600));
        assert_eq!(tx.poll_action(), Some(TxAction::Terminated));
    }

    #[test]
    fn a_retransmitted_invite_gets_the_last_provisional_again() {
        let t0 = Instant::now();
        let mut tx = ServerInviteTx::new(t0, Reliability::Unreliable, Timers::default());
        tx.respond(t0, 180, Bytes::from_static(b"180"));
        tx.poll_action();
        tx.handle_retransmission(t0);
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"180")))
        );
        tx.respond(t0, 200, Bytes::from_static(b"200"));
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"200")))
        );
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Terminated),
            "2xx ends the transaction"
        );
    }

    #[test]
    fn early_timeouts_do_nothing() {
        let t0 = Instant::now();
        let mut tx = ServerInviteTx::new(t0, Reliability::Unreliable, Timers::default());
        tx.respond(t0, 486, Bytes::from_static(b"486"));
        tx.poll_action();
        tx.handle_timeout(t0 + Duration::from_millis(499));
        assert_eq!(tx.poll_action(), None);
    }

    #[test]
    fn non_invite_completed_absorbs_retransmissions_until_timer_j() {
        let t0 = Instant::now();
        let mut tx = ServerNonInviteTx::new(t0, Reliability::Unreliable, Timers::default());
        tx.respond(t0, 200, Bytes::from_static(b"200"));
        assert!(matches!(tx.poll_action(), Some(TxAction::Send(_))));
        tx.handle_retransmission(t0 + Duration::from_secs(1));
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"200")))
        );
        assert_eq!(
            tx.poll_timeout(),
            Some(t0 + Duration::from_secs(32)),
            "Timer J = 64·T1"
        );
        tx.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(tx.poll_action(), Some(TxAction::Terminated));
    }

    #[test]
    fn non_invite_over_tcp_ends_at_once() {
        let t0 = Instant::now();
        let mut tx = ServerNonInviteTx::new(t0, Reliability::Reliable, Timers::default());
        tx.respond(t0, 200, Bytes::from_static(b"200"));
        tx.poll_action();
        assert_eq!(tx.poll_action(), Some(TxAction::Terminated));
        assert!(tx.is_terminated());
    }
}
