//! The IVR interpreter: runs one caller through a [`Flow`]. Sans-IO.
//!
//! Inputs: the call started, a prompt finished, a digit arrived, a timer fired, the caller
//! hung up. Outputs ([`IvrAction`]): play these prompts, stop playing, hang up. The call task
//! owns one [`IvrSession`] per call and performs the actions through the media leg and
//! the dialog; it never decides anything about the flow itself.
//!
//! Every `Play` carries a [`PlayId`]; a `PromptDone` for an older play (one we already
//! stopped, racing with the stop) is ignored, so a late event never moves the caller on.
//! After [`IvrAction::Hangup`] the session is finished and emits nothing more.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::ivr::flow::{Flow, Menu, NodeAction, NodeId};
use crate::media::dtmf::Digit;

/// Identifies one `Play` so its completion can be matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlayId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IvrAction {
    /// Play these prompts in order, then report `PromptDone(id)`.
    /// `barge_in`: a digit may interrupt (menus); the interpreter then sends `StopPlayback`.
    Play {
        id: PlayId,
        prompts: Vec<Arc<str>>,
        barge_in: bool,
    },
    StopPlayback,
    /// Ring this extension's contacts; report the result with `handle_dial_result`. The
    /// interpreter keeps the ring time-out itself and sends `CancelDial` when it runs out.
    Dial {
        extension: Arc<str>,
    },
    /// Dial `number` through `trunk`, reported like [`IvrAction::Dial`].
    DialTrunk {
        trunk: Arc<str>,
        number: Arc<str>,
    },
    /// Stop ringing (ring time-out): the dial has already been given up on.
    CancelDial,
    /// Wait in this queue for an operator; report an agent's answer with
    /// `handle_dial_result(Answered)` and a refusal or give-up with `handle_queue_overflow`.
    EnterQueue {
        queue: Arc<str>,
        priority: u8,
    },
    /// The flow has ended: send BYE.
    Hangup(FlowEnd),
}

/// How a `Dial` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialResult {
    /// An operator answered: the caller is connected until `handle_operator_hangup`.
    Answered,
    /// Busy or declined (486, 600, 603), or the extension was already in a call.
    Busy,
    /// Nobody answered, or nobody could be rung (not registered, unreachable, errors).
    NoAnswer,
}

/// Why the flow ended, for the call record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowEnd {
    /// A `hangup` node was reached.
    Completed,
    /// A menu ran out of retries and its `on_failure` led to a hangup.
    MenuFailed,
}

#[derive(Debug)]
enum State {
    /// Playing a `play` node's prompts; then go to `next`.
    Playing {
        play: PlayId,
        next: NodeId,
    },
    /// In a menu: prompting (possibly the repeat), or waiting for a key after it.
    Menu {
        node: NodeId,
        attempts: u32,
        phase: MenuPhase,
    },
    /// Ringing a dial node's extension until `deadline`.
    Dialing {
        node: NodeId,
        deadline: Instant,
    },
    /// Waiting in a queue node's queue.
    Queued {
        node: NodeId,
    },
    /// Bridged to the operator (of a dial or queue node); the flow waits for the operator
    /// to hang up.
    Connected {
        node: NodeId,
    },
    Finished,
}

#[derive(Debug)]
enum MenuPhase {
    Prompting(PlayId),
    Waiting { deadline: Instant },
}

/// One caller's walk through a flow.
#[derive(Debug)]
pub struct IvrSession {
    flow: Arc<Flow>,
    state: State,
    next_play: u32,
    failed_menu: bool,
    out: VecDeque<IvrAction>,
}

impl IvrSession {
    /// Start at the flow's start node; the first actions are ready to poll.
    pub fn new(now: Instant, flow: Arc<Flow>) -> Self {
        let start = flow.start;
        let mut s = IvrSession {
            flow,
            state: State::Finished,
            next_play: 0,
            failed_menu: false,
            out: VecDeque::new(),
        };
        s.enter(now, start);
        s
    }

    pub fn poll_action(&mut self) -> Option<IvrAction> {
        self.out.pop_front()
    }

    /// The menu time-out, when one is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Menu {
                phase: MenuPhase::Waiting { deadline },
                ..
            } => Some(deadline),
            State::Dialing { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// The name of the node the caller is in (for logs and the call record).
    pub fn current_node(&self) -> Option<&str> {
        match self.state {
            State::Playing { next, .. } => Some(&self.flow.node(next).name),
            State::Menu { node, .. }
            | State::Dialing { node, .. }
            | State::Queued { node }
            | State::Connected { node } => Some(&self.flow.node(node).name),
            State::Finished => None,
        }
    }

    /// The prompts of `Play { id }` have all been played.
    pub fn handle_prompt_done(&mut self, now: Instant, id: PlayId) {
        match self.state {
            State::Playing { play, next } if play == id => self.enter(now, next),
            State::Menu {
                node,
                attempts,
                phase: MenuPhase::Prompting(play),
            } if play == id => {
                let timeout = self.menu(node).timeout;
                self.state = State::Menu {
                    node,
                    attempts,
                    phase: MenuPhase::Waiting {
                        deadline: now + timeout,
                    },
                };
            }
            _ => {} // stale completion of a play we stopped
        }
    }

    /// A key from the caller (RFC 4733, SIP INFO or in-band: the source does not matter here).
    pub fn handle_digit(&mut self, now: Instant, digit: Digit) {
        let State::Menu {
            node,
            attempts,
            ref phase,
        } = self.state
        else {
            return; // play nodes are not interruptible; keys there are ignored
        };
        if matches!(phase, MenuPhase::Prompting(_)) {
            self.out.push_back(IvrAction::StopPlayback);
        }
        let menu = self.menu(node);
        let chosen = menu
            .options
            .iter()
            .find(|(d, _)| *d == digit)
            .map(|(_, to)| *to);
        match chosen {
            Some(to) => self.enter(now, to),
            None => {
                let invalid = menu.invalid.clone();
                self.retry(now, node, attempts, invalid);
            }
        }
    }

    /// The outcome of the current `Dial` (ignored in any other state, e.g. after the ring
    /// time-out already moved the caller on).
    pub fn handle_dial_result(&mut self, now: Instant, result: DialResult) {
        if let (State::Queued { node }, DialResult::Answered) = (&self.state, result) {
            self.state = State::Connected { node: *node };
            return;
        }
        let State::Dialing { node, .. } = self.state else {
            return;
        };
        let dial = self.dial(node);
        let (busy, no_answer) = (dial.on_busy, dial.on_no_answer);
        match result {
            DialResult::Answered => self.state = State::Connected { node },
            DialResult::Busy => self.enter(now, busy),
            DialResult::NoAnswer => self.enter(now, no_answer),
        }
    }

    /// The operator hung up: the caller goes on to the dial or queue node's `next`.
    pub fn handle_operator_hangup(&mut self, now: Instant) {
        if let State::Connected { node } = self.state {
            let next = match &self.flow.node(node).action {
                NodeAction::Dial(d) => d.next,
                NodeAction::Queue(q) => q.next,
                _ => unreachable!("connected states point at a dial or queue node"),
            };
            self.enter(now, next);
        }
    }

    /// The queue refused the caller or gave up on them (full, maximum wait, nobody logged
    /// in): on to the queue node's `on_overflow`. A caller an operator had transferred into
    /// a queue (the flow is still connected) goes on as after that operator: `next`.
    pub fn handle_queue_overflow(&mut self, now: Instant) {
        match self.state {
            State::Queued { node } => {
                let to = match &self.flow.node(node).action {
                    NodeAction::Queue(q) => q.on_overflow,
                    _ => unreachable!("queued states point at a queue node"),
                };
                self.enter(now, to);
            }
            State::Connected { .. } => self.handle_operator_hangup(now),
            _ => {}
        }
    }

    /// Call this at or after `poll_timeout()`; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Dialing { node, deadline } = self.state {
            if now >= deadline {
                self.out.push_back(IvrAction::CancelDial);
                let to = self.dial(node).on_no_answer;
                self.enter(now, to);
            }
            return;
        }
        if let State::Menu {
            node,
            attempts,
            phase: MenuPhase::Waiting { deadline },
        } = self.state
        {
            if now >= deadline {
                let no_input = self.menu(node).no_input.clone();
                self.retry(now, node, attempts, no_input);
            }
        }
    }

    /// The caller hung up: nothing more is emitted.
    pub fn handle_hangup(&mut self) {
        self.state = State::Finished;
        self.out.clear();
    }

    fn dial(&self, node: NodeId) -> &crate::ivr::flow::Dial {
        match &self.flow.node(node).action {
            NodeAction::Dial(d) => d,
            _ => unreachable!("dial states always point at a dial node"),
        }
    }

    fn menu(&self, node: NodeId) -> &Menu {
        match &self.flow.node(node).action {
            NodeAction::Menu(m) => m,
            _ => unreachable!("menu state always points at a menu node"),
        }
    }

    fn play(&mut self, prompts: Vec<Arc<str>>, barge_in: bool) -> PlayId {
        let id = PlayId(self.next_play);
        self.next_play = self.next_play.wrapping_add(1);
        self.out.push_back(IvrAction::Play {
            id,
            prompts,
            barge_in,
        });
        id
    }

    /// A wrong key or silence: say why, repeat the menu, or give up after `retries` repeats.
    fn retry(&mut self, now: Instant, node: NodeId, attempts: u32, preface: Vec<Arc<str>>) {
        let menu = self.menu(node);
        if attempts >= menu.retries {
            let to = menu.on_failure;
            self.failed_menu = true;
            self.enter(now, to);
            return;
        }
        let mut prompts = preface;
        prompts.extend(menu.prompt.iter().cloned());
        let play = self.play(prompts, true);
        self.state = State::Menu {
            node,
            attempts: attempts + 1,
            phase: MenuPhase::Prompting(play),
        };
    }

    fn enter(&mut self, now: Instant, node: NodeId) {
        let flow = Arc::clone(&self.flow);
        match &flow.node(node).action {
            NodeAction::Queue(q) => {
                self.out.push_back(IvrAction::EnterQueue {
                    queue: Arc::clone(&q.queue),
                    priority: q.priority,
                });
                self.state = State::Queued { node };
            }
            NodeAction::Dial(dial) => {
                self.out.push_back(match &dial.trunk {
                    Some(trunk) => IvrAction::DialTrunk {
                        trunk: Arc::clone(trunk),
                        number: Arc::clone(&dial.extension),
                    },
                    None => IvrAction::Dial {
                        extension: Arc::clone(&dial.extension),
                    },
                });
                self.state = State::Dialing {
                    node,
                    deadline: now + dial.ring_timeout,
                };
            }
            NodeAction::Play { prompts, next } => {
                let play = self.play(prompts.clone(), false);
                self.state = State::Playing { play, next: *next };
            }
            NodeAction::Menu(menu) => {
                let play = self.play(menu.prompt.clone(), true);
                self.state = State::Menu {
                    node,
                    attempts: 0,
                    phase: MenuPhase::Prompting(play),
                };
            }
            NodeAction::Hangup => {
                self.state = State::Finished;
                let end = if self.failed_menu {
                    FlowEnd::MenuFailed
                } else {
                    FlowEnd::Completed
                };
                self.out.push_back(IvrAction::Hangup(end));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;
    use std::time::Duration;

    const FLOW: &str = "\
start: greeting
nodes:
  greeting: { play: welcome, next: menu }
  menu:
    menu:
      prompt: menu
      options: { \"1\": sales, \"2\": support }
      timeout: 5s
      retries: 2
      invalid: invalid_key
      no_input: no_input
      on_failure: goodbye
  sales: { play: sales_info, next: goodbye }
  support: { play: support_info, next: goodbye }
  goodbye: { play: goodbye, next: bye }
  bye: { hangup: true }
";

    fn flow() -> Arc<Flow> {
        Arc::new(Flow::parse(Path::new("main.yaml"), FLOW).unwrap())
    }

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    /// Drain actions; play ids are returned so the test can complete them.
    fn drain(s: &mut IvrSession) -> Vec<IvrAction> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    fn played(actions: &[IvrAction]) -> (PlayId, Vec<String>) {
        actions
            .iter()
            .rev()
            .find_map(|a| match a {
                IvrAction::Play { id, prompts, .. } => {
                    Some((*id, prompts.iter().map(|p| p.to_string()).collect()))
                }
                _ => None,
            })
            .expect("a play action")
    }

    const DIAL_FLOW: &str = "\
start: op
nodes:
  op:
    dial: \"2001\"
    ring_timeout: 20s
    on_no_answer: sorry
    on_busy: busy
    next: survey
  sorry: { play: sorry, next: bye }
  busy: { play: busy, next: bye }
  survey: { play: thanks, next: bye }
  bye: { hangup: true }
";

    fn dial_flow() -> Arc<Flow> {
        Arc::new(Flow::parse(Path::new("dial.yaml"), DIAL_FLOW).unwrap())
    }

    #[test]
    fn a_dial_node_rings_the_extension_and_the_operators_hangup_goes_to_next() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, dial_flow());
        assert_eq!(
            drain(&mut s),
            [IvrAction::Dial {
                extension: Arc::from("2001")
            }]
        );
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(20)));
        s.handle_dial_result(t0 + Duration::from_secs(3), DialResult::Answered);
        assert!(drain(&mut s).is_empty());
        assert_eq!(s.poll_timeout(), None, "no ring time-out once connected");
        s.handle_digit(t0, d('1'));
        assert!(
            drain(&mut s).is_empty(),
            "keys while connected are not the IVR's"
        );
        s.handle_operator_hangup(t0 + Duration::from_secs(60));
        assert_eq!(played(&drain(&mut s)).1, ["thanks"]);
    }

    #[test]
    fn the_ring_timeout_cancels_the_dial_and_goes_to_on_no_answer() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, dial_flow());
        drain(&mut s);
        s.handle_timeout(t0 + Duration::from_secs(19));
        assert!(drain(&mut s).is_empty(), "early time-out does nothing");
        s.handle_timeout(t0 + Duration::from_secs(20));
        let a = drain(&mut s);
        assert_eq!(a[0], IvrAction::CancelDial);
        assert_eq!(played(&a).1, ["sorry"]);
        // A late answer after the time-out is ignored.
        s.handle_dial_result(t0 + Duration::from_secs(21), DialResult::Answered);
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn busy_goes_to_on_busy_and_no_answer_to_on_no_answer() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, dial_flow());
        drain(&mut s);
        s.handle_dial_result(t0, DialResult::Busy);
        assert_eq!(played(&drain(&mut s)).1, ["busy"]);
        let mut s = IvrSession::new(t0, dial_flow());
        drain(&mut s);
        s.handle_dial_result(t0, DialResult::NoAnswer);
        assert_eq!(played(&drain(&mut s)).1, ["sorry"]);
    }

    #[test]
    fn greeting_then_menu_then_branch_then_hangup() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        let (id, p) = played(&drain(&mut s));
        assert_eq!(p, ["welcome"]);
        s.handle_prompt_done(t0, id);
        let (id, p) = played(&drain(&mut s));
        assert_eq!(p, ["menu"]);
        s.handle_prompt_done(t0, id);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        s.handle_digit(t0 + Duration::from_secs(1), d('1'));
        let (id, p) = played(&drain(&mut s));
        assert_eq!(p, ["sales_info"]);
        s.handle_prompt_done(t0, id);
        let (id, p) = played(&drain(&mut s));
        assert_eq!(p, ["goodbye"]);
        s.handle_prompt_done(t0, id);
        assert_eq!(drain(&mut s), [IvrAction::Hangup(FlowEnd::Completed)]);
        assert!(s.is_finished());
    }

    #[test]
    fn a_key_during_the_menu_prompt_stops_it_and_is_taken() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        let (id, _) = played(&drain(&mut s));
        s.handle_prompt_done(t0, id);
        drain(&mut s);
        s.handle_digit(t0, d('2'));
        let actions = drain(&mut s);
        assert_eq!(actions[0], IvrAction::StopPlayback);
        assert_eq!(played(&actions).1, ["support_info"]);
    }

    #[test]
    fn keys_during_a_play_node_are_ignored() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        drain(&mut s);
        s.handle_digit(t0, d('1'));
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn a_wrong_key_says_so_and_repeats_the_menu() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        let (id, _) = played(&drain(&mut s));
        s.handle_prompt_done(t0, id);
        let (id, _) = played(&drain(&mut s));
        s.handle_prompt_done(t0, id);
        s.handle_digit(t0, d('9'));
        assert_eq!(played(&drain(&mut s)).1, ["invalid_key", "menu"]);
    }

    #[test]
    fn silence_times_out_and_repeats_then_gives_up_after_the_retries() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        let (id, _) = played(&drain(&mut s));
        s.handle_prompt_done(t0, id);
        let mut now = t0;
        let mut heard = vec![];
        loop {
            let actions = drain(&mut s);
            if let Some(IvrAction::Hangup(end)) = actions.last() {
                assert_eq!(*end, FlowEnd::MenuFailed);
                break;
            }
            let (id, p) = played(&actions);
            heard.push(p.join("+"));
            s.handle_prompt_done(now, id);
            if let Some(deadline) = s.poll_timeout() {
                s.handle_timeout(deadline - Duration::from_millis(1)); // early: no-op
                assert!(s.poll_action().is_none());
                now = deadline;
                s.handle_timeout(now);
            }
        }
        assert_eq!(
            heard,
            ["menu", "no_input+menu", "no_input+menu", "goodbye"],
            "two retries after the first prompt, then on_failure"
        );
    }

    #[test]
    fn a_stale_prompt_done_does_not_move_the_caller() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        let (greet, _) = played(&drain(&mut s));
        s.handle_prompt_done(t0, greet);
        let (menu, _) = played(&drain(&mut s));
        s.handle_digit(t0, d('7')); // wrong key while prompting: stop + repeat
        drain(&mut s);
        s.handle_prompt_done(t0, menu); // the stopped play reports late
        assert_eq!(s.poll_timeout(), None, "still prompting the repeat");
    }

    #[test]
    fn nothing_after_the_caller_hangs_up() {
        let t0 = Instant::now();
        let mut s = IvrSession::new(t0, flow());
        s.handle_hangup();
        assert!(s.poll_action().is_none());
        s.handle_digit(t0, d('1'));
        s.handle_timeout(t0 + Duration::from_secs(100));
        assert!(s.poll_action().is_none());
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Done,
        Key(char),
        Wait(u64),
        Hangup,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            Just(Ev::Done),
            prop::sample::select(vec!['0', '1', '2', '9', '#']).prop_map(Ev::Key),
            (0u64..10_000).prop_map(Ev::Wait),
            Just(Ev::Hangup),
        ]
    }

    proptest! {
        /// Whatever the caller does, the session never emits anything after Hangup and
        /// always ends within a bounded number of steps once the caller goes silent.
        #[test]
        fn no_action_after_hangup(events in prop::collection::vec(ev(), 0..60)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut s = IvrSession::new(t0, flow());
            let mut last_play = None;
            let mut ended = false;
            for e in events {
                match e {
                    Ev::Done => if let Some(id) = last_play { s.handle_prompt_done(now, id) },
                    Ev::Key(c) => s.handle_digit(now, d(c)),
                    Ev::Wait(ms) => { now += Duration::from_millis(ms); s.handle_timeout(now) }
                    Ev::Hangup => { s.handle_hangup(); ended = true; }
                }
                while let Some(a) = s.poll_action() {
                    prop_assert!(!ended, "action {a:?} after hangup");
                    match a {
                        IvrAction::Play { id, .. } => last_play = Some(id),
                        IvrAction::Hangup(_) => ended = true,
                        IvrAction::StopPlayback | IvrAction::Dial { .. } | IvrAction::DialTrunk { .. } | IvrAction::CancelDial | IvrAction::EnterQueue { .. } => {}
                    }
                }
            }
        }
    }
}
