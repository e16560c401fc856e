//! Client transactions: INVITE (RFC 3261 §17.1.1, Figure 5) and non-INVITE (§17.1.2,
//! Figure 6). The request bytes are sent at construction and retransmitted on Timers
//! A / E over unreliable transports; Timers B / F give up; D / K absorb late responses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Reliability, Timer, TimerTable, Timers, TxAction};

#[derive(Debug, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Terminated,
}

/// INVITE client transaction (for calling operators). The ACK for a 3xx–6xx is built by
/// the caller of [`ClientInviteTx::handle_response`] and sent (and resent) by the transaction.
/// Timer B runs in Calling only: once a provisional response arrives the transaction waits
/// for a final response for as long as the TU lets it (RFC 3261 §17.1.1.2, Figure 5).
#[derive(Debug)]
pub struct ClientInviteTx {
    request: Bytes,
    state: State,
    reliability: Reliability,
    table: TimerTable,
    a_interval: Duration,
    ack: Option<Bytes>,
    out: VecDeque<TxAction>,
}

impl ClientInviteTx {
    pub fn new(now: Instant, request: Bytes, reliability: Reliability, timers: Timers) -> Self {
        let mut tx = ClientInviteTx {
            request: request.clone(),
            state: State::Calling,
            reliability,
            table: TimerTable::default(),
            a_interval: timers.t1,
            ack: None,
            out: VecDeque::new(),
        };
        tx.out.push_back(TxAction::Send(request));
        if reliability == Reliability::Unreliable {
            tx.table.set(Timer::A, now + timers.t1);
        }
        tx.table.set(Timer::B, now + timers.t64());
        tx
    }

    /// A response matched this transaction. `ack` is the ACK to send for a 3xx–6xx.
    pub fn handle_response(&mut self, now: Instant, code: u16, ack: Option<Bytes>) {
        match (&self.state, code) {
            (State::Calling | State::Proceeding, 100..=199) => {
                // Figure 5: Proceeding has neither A nor B. Ringing may last minutes; the
                // TU ends it (CANCEL), not Timer B.
                self.table.stop(Timer::A);
                self.table.stop(Timer::B);
                self.state = State::Proceeding;
                self.out.push_back(TxAction::Provisional(code));
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.out.push_back(TxAction::Final(code));
                self.terminate();
            }
            (State::Calling | State::Proceeding, _) => {
                self.table.stop(Timer::A);
                self.table.stop(Timer::B);
                self.out.push_back(TxAction::Final(code));
                if let Some(ack) = ack {
                    self.out.push_back(TxAction::Send(ack.clone()));
                    self.ack = Some(ack);
                }
                match self.reliability {
                    Reliability::Unreliable => {
                        self.table.set(Timer::D, now + Duration::from_secs(32));
                        self.state = State::Completed;
                    }
                    Reliability::Reliable => self.terminate(),
                }
            }
            (State::Completed, 300..=699) => {
                if let Some(ack) = &self.ack {
                    self.out.push_back(TxAction::Send(ack.clone()));
                }
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.table.expired(now) {
            match (timer, &self.state) {
                (Timer::A, State::Calling) => {
                    self.out.push_back(TxAction::Send(self.request.clone()));
                    self.a_interval *= 2;
                    self.table.set(Timer::A, now + self.a_interval);
                }
                (Timer::B, State::Calling) => {
                    self.out.push_back(TxAction::TimedOut);
                    self.terminate();
                }
                (Timer::D, State::Completed) => self.terminate(),
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
        self.state == State::Terminated
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = State::Terminated;
        self.out.push_back(TxAction::Terminated);
    }
}

/// Non-INVITE client transaction (our BYE).
#[derive(Debug)]
pub struct ClientNonInviteTx {
    request: Bytes,
    state: State,
    reliability: Reliability,
    timers: Timers,
    table: TimerTable,
    e_interval: Duration,
    out: VecDeque<TxAction>,
}

impl ClientNonInviteTx {
    pub fn new(now: Instant, request: Bytes, reliability: Reliability, timers: Timers) -> Self {
        let mut tx = ClientNonInviteTx {
            request: request.clone(),
            state: State::Calling, // "Trying" in Figure 6
            reliability,
            timers,
            table: TimerTable::default(),
            e_interval: timers.t1,
            out: VecDeque::new(),
        };
        tx.out.push_back(TxAction::Send(request));
        if reliability == Reliability::Unreliable {
            tx.table.set(Timer::E, now + timers.t1);
        }
        tx.table.set(Timer::F, now + timers.t64());
        tx
    }

    pub fn handle_response(&mut self, now: Instant, code: u16) {
        match (&self.state, code) {
            (State::Calling | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.out.push_back(TxAction::Provisional(code));
            }
            (State::Calling | State::Proceeding, _) => {
                self.table.stop(Timer::E);
                self.table.stop(Timer::F);
                self.out.push_back(TxAction::Final(code));
                match self.reliability {
                    Reliability::Unreliable => {
                        self.table.set(Timer::K, now + self.timers.t4);
                        self.state = State::Completed;
                    }
                    Reliability::Reliable => self.terminate(),
                }
            }
            _ => {} // a retransmitted final in Completed is absorbed
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.table.expired(now) {
            match (timer, &self.state) {
                (Timer::E, State::Calling | State::Proceeding) => {
                    self.out.push_back(TxAction::Send(self.request.clone()));
                    // Trying: double up to T2; Proceeding: every T2 (§17.1.2.2).
                    self.e_interval = if self.state == State::Proceeding {
                        self.timers.t2
                    } else {
                        (self.e_interval * 2).min(self.timers.t2)
                    };
                    self.table.set(Timer::E, now + self.e_interval);
                }
                (Timer::F, State::Calling | State::Proceeding) => {
                    self.out.push_back(TxAction::TimedOut);
                    self.terminate();
                }
                (Timer::K, State::Completed) => self.terminate(),
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
        self.state == State::Terminated
    }

    fn terminate(&mut self) {
        self.table.stop_all();
        self.state = State::Terminated;
        self.out.push_back(TxAction::Terminated);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn sends_until_timeout(
        t0: Instant,
        mut next: impl FnMut() -> Option<Instant>,
        mut fire: impl FnMut(Instant) -> Vec<TxAction>,
    ) -> (Vec<u128>, Option<u128>) {
        let (mut sent, mut timed_out) = (vec![], None);
        while let Some(t) = next() {
            for a in fire(t) {
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
    fn invite_is_retransmitted_on_timer_a_doubling_until_timer_b() {
        let t0 = Instant::now();
        let tx = std::cell::RefCell::new(ClientInviteTx::new(
            t0,
            Bytes::from_static(b"INVITE"),
            Reliability::Unreliable,
            Timers::default(),
        ));
        tx.borrow_mut().poll_action();
        let (sent, timed_out) = sends_until_timeout(
            t0,
            || tx.borrow().poll_timeout(),
            |t| {
                let mut tx = tx.borrow_mut();
                tx.handle_timeout(t);
                std::iter::from_fn(|| tx.poll_action()).collect()
            },
        );
        assert_eq!(sent, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(timed_out, Some(32000));
    }

    #[test]
    fn a_provisional_stops_timer_a_and_an_error_is_acked_then_d_ends_it() {
        let t0 = Instant::now();
        let mut tx = ClientInviteTx::new(
            t0,
            Bytes::from_static(b"INVITE"),
            Reliability::Unreliable,
            Timers::default(),
        );
        tx.poll_action();
        tx.handle_response(t0, 180, None);
        assert_eq!(tx.poll_action(), Some(TxAction::Provisional(180)));
        assert_eq!(tx.poll_timeout(), None, "A and B both stop in Proceeding");
        tx.handle_response(t0, 486, Some(Bytes::from_static(b"ACK")));
        assert_eq!(tx.poll_action(), Some(TxAction::Final(486)));
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"ACK")))
        );
        tx.handle_response(t0, 486, None); // retransmitted 486
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"ACK")))
        );
        tx.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(tx.poll_action(), Some(TxAction::Terminated), "Timer D");
    }

    #[test]
    fn bye_is_retransmitted_on_timer_e_capped_at_t2_until_timer_f() {
        let t0 = Instant::now();
        let tx = std::cell::RefCell::new(ClientNonInviteTx::new(
            t0,
            Bytes::from_static(b"BYE"),
            Reliability::Unreliable,
            Timers::default(),
        ));
        tx.borrow_mut().poll_action();
        let (sent, timed_out) = sends_until_timeout(
            t0,
            || tx.borrow().poll_timeout(),
            |t| {
                let mut tx = tx.borrow_mut();
                tx.handle_timeout(t);
                std::iter::from_fn(|| tx.poll_action()).collect()
            },
        );
        assert_eq!(
            sent,
            [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(timed_out, Some(32000));
    }

    #[test]
    fn bye_answered_over_udp_waits_timer_k_over_tcp_ends_at_once() {
        let t0 = Instant::now();
        let mut tx = ClientNonInviteTx::new(
            t0,
            Bytes::from_static(b"BYE"),
            Reliability::Unreliable,
            Timers::default(),
        );
        tx.poll_action();
        tx.handle_response(t0, 200);
        assert_eq!(tx.poll_action(), Some(TxAction::Final(200)));
        assert_eq!(
            tx.poll_timeout(),
            Some(t0 + Duration::from_secs(5)),
            "Timer K = T4"
        );
        let mut tcp = ClientNonInviteTx::new(
            t0,
            Bytes::from_static(b"BYE"),
            Reliability::Reliable,
            Timers::default(),
        );
        tcp.poll_action();
        assert_eq!(
            tcp.poll_timeout(),
            Some(t0 + Duration::from_secs(32)),
            "no E over TCP"
        );
        tcp.handle_response(t0, 200);
        assert_eq!(tcp.poll_action(), Some(TxAction::Final(200)));
        assert_eq!(tcp.poll_action(), Some(TxAction::Terminated));
    }

    fn invite_tx(t0: Instant) -> ClientInviteTx {
        let mut tx = ClientInviteTx::new(
            t0,
            Bytes::from_static(b"INVITE"),
            Reliability::Unreliable,
            Timers::default(),
        );
        assert_eq!(
            tx.poll_action(),
            Some(TxAction::Send(Bytes::from_static(b"INVITE")))
        );
        tx
    }

    fn drain(tx: &mut ClientInviteTx) -> Vec<TxAction> {
        std::iter::from_fn(|| tx.poll_action()).collect()
    }

    #[test]
    fn ringing_after_a_180_does_not_time_out_at_40_or_60_seconds() {
        let t0 = Instant::now();
        let mut tx = invite_tx(t0);
        tx.handle_timeout(t0 + Duration::from_millis(500));
        drain(&mut tx);
        tx.handle_response(t0 + Duration::from_secs(1), 180, None);
        assert_eq!(drain(&mut tx), [TxAction::Provisional(180)]);
        for s in [40, 60] {
            tx.handle_timeout(t0 + Duration::from_secs(s));
            assert_eq!(drain(&mut tx), [], "at {s} s");
        }
        assert!(!tx.is_terminated());
        tx.handle_response(t0 + Duration::from_secs(61), 200, None);
        assert_eq!(drain(&mut tx), [TxAction::Final(200), TxAction::Terminated]);
    }

    #[test]
    fn without_any_response_timer_b_fires_at_64_t1() {
        let t0 = Instant::now();
        let mut tx = invite_tx(t0);
        let mut last = t0;
        while let Some(t) = tx.poll_timeout() {
            tx.handle_timeout(t);
            if drain(&mut tx).contains(&TxAction::TimedOut) {
                last = t;
            }
        }
        assert_eq!(last - t0, Timers::default().t64());
        assert!(tx.is_terminated());
    }

    #[test]
    fn timer_a_retransmissions_stop_after_a_180() {
        let t0 = Instant::now();
        let mut tx = invite_tx(t0);
        tx.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(
            drain(&mut tx),
            [TxAction::Send(Bytes::from_static(b"INVITE"))]
        );
        tx.handle_response(t0 + Duration::from_secs(1), 180, None);
        drain(&mut tx);
        assert_eq!(tx.poll_timeout(), None);
        for ms in [1500, 3500, 7500, 15500, 31500, 32000] {
            tx.handle_timeout(t0 + Duration::from_millis(ms));
            assert_eq!(drain(&mut tx), [], "at {ms} ms");
        }
    }
}
