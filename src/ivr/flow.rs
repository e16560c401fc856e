//! The IVR flow language: YAML files in `ivr-flows/`, parsed into a validated [`Flow`].
//!
//! A flow is a set of named nodes and a `start` node. Each node does one thing:
//!
//! ```yaml
//! start: greeting
//! nodes:
//!   greeting: { play: welcome, next: menu }          # play prompts, then go on
//!   menu:
//!     menu:                                           # prompt, then collect one digit
//!       prompt: menu
//!       options: { "1": sales, "2": support }
//!       timeout: 5s                                   # after the prompt ends
//!       retries: 2                                    # repeats after a wrong key / silence
//!       invalid: invalid_key                          # said before repeating on a wrong key
//!       no_input: no_input                            # said before repeating on silence
//!       on_failure: goodbye                           # where to go when retries run out
//!   sales: { play: sales_info, next: goodbye }
//!   support:                                          # ring an operator's softphone(s)
//!     dial: "2001"                                    # an extension (every registered contact)
//!     ring_timeout: 30s                               # then on_no_answer
//!     on_no_answer: sorry                             # nobody answered, or not registered
//!     on_busy: sorry                                  # busy (486/600/603, or in a call)
//!     next: goodbye                                   # after the operator hangs up
//!   outside:                                          # a number outside, through a trunk
//!     dial: "87172000000"                             # the number (3-15 digits, + allowed)
//!     trunk: carrier                                  # a [trunks.carrier] of the config
//!     ring_timeout: 40s
//!     on_no_answer: sorry
//!     next: goodbye
//!   goodbye: { play: goodbye, next: hangup }
//!   hangup: { hangup: true }                          # we send BYE
//! ```
//!
//! Parsing reports every problem at once, each with file, line and why (STYLE.md §6): an
//! undefined target does not hide a bad value or a missing prompt elsewhere in the file.
//! Whether a prompt exists is asked of the caller ([`Flow::check`] takes a [`PromptCheck`]);
//! the preflight answers from the prompt library, so this module knows nothing of files on
//! disk beyond the one it reads.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::media::dtmf::Digit;
use crate::units::parse_duration;

/// Index of a node inside its flow; cheap to copy, valid only for that flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(pub(crate) u16);

/// A validated flow, ready for the interpreter.
#[derive(Debug)]
pub struct Flow {
    pub name: String,
    pub start: NodeId,
    nodes: Vec<Node>,
}

#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub action: NodeAction,
}

#[derive(Debug)]
pub enum NodeAction {
    Play {
        prompts: Vec<Arc<str>>,
        next: NodeId,
    },
    Menu(Menu),
    Dial(Dial),
    Queue(QueueNode),
    Hangup,
}

/// Wait in a queue (config `[queues.NAME]`) for an operator, with music on hold and
/// announcements; the caller is bridged to the agent the ACD offers the call to.
#[derive(Debug)]
pub struct QueueNode {
    pub queue: Arc<str>,
    /// Higher is served first (0–9); first come first served within a priority.
    pub priority: u8,
    /// Where the caller goes when the queue refuses or gives up on them (full, the maximum
    /// wait, nobody logged in).
    pub on_overflow: NodeId,
    /// Where the caller goes when the operator hangs up.
    pub next: NodeId,
}

/// Ring an extension's registered contacts (or a number through a trunk) and bridge the
/// caller to whoever answers.
#[derive(Debug)]
pub struct Dial {
    /// The extension, or with `trunk` the number dialled through it.
    pub extension: Arc<str>,
    /// The trunk a number outside is dialled through (`[trunks.NAME]`; checked against the
    /// config by the preflight). Only a flow that names a trunk reaches it.
    pub trunk: Option<Arc<str>>,
    pub ring_timeout: Duration,
    pub on_no_answer: NodeId,
    pub on_busy: NodeId,
    /// Where the caller goes when the operator hangs up.
    pub next: NodeId,
}

#[derive(Debug)]
pub struct Menu {
    pub prompt: Vec<Arc<str>>,
    pub options: Vec<(Digit, NodeId)>,
    pub timeout: Duration,
    pub retries: u32,
    pub invalid: Vec<Arc<str>>,
    pub no_input: Vec<Arc<str>>,
    pub on_failure: NodeId,
}

impl Flow {
    /// Every node, in the flow's order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[usize::from(id.0)]
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u16))
    }

    /// Every prompt name the flow can play, for the preflight that checks the sound files.
    pub fn prompt_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().flat_map(|n| {
            let lists: Vec<&Vec<Arc<str>>> = match &n.action {
                NodeAction::Play { prompts, .. } => vec![prompts],
                NodeAction::Menu(m) => vec![&m.prompt, &m.invalid, &m.no_input],
                NodeAction::Dial(_) | NodeAction::Queue(_) | NodeAction::Hangup => vec![],
            };
            lists.into_iter().flatten().map(|p| &**p)
        })
    }

    /// Parse and validate one flow file's text, without looking for its prompts. `file` is
    /// used only in messages.
    pub fn parse(file: &Path, text: &str) -> Result<Flow, FlowErrors> {
        Flow::check(file, text, &NoPromptCheck)
    }

    /// Parse and validate one flow file's text, and ask `prompts` about every prompt it
    /// plays. Every problem is reported with its line, whatever else is wrong in the file.
    pub fn check(file: &Path, text: &str, prompts: &dyn PromptCheck) -> Result<Flow, FlowErrors> {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let raw: RawFlow = serde_saphyr::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(0);
            FlowErrors::one(file, line, format!("not a valid flow: {e}"))
        })?;
        Builder::new(file, name, prompts).build(raw)
    }

    pub fn load(file: &Path, prompts: &dyn PromptCheck) -> Result<Flow, FlowErrors> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| FlowErrors::one(file, 0, format!("cannot read: {e}")))?;
        Flow::check(file, &text, prompts)
    }
}

/// Where a flow's prompts are looked up while it is checked: the preflight answers from the
/// prompt library (`sounds/<lang>/<name>.wav` for every language a caller can choose).
pub trait PromptCheck {
    /// Why `name` cannot be played, one reason per language it is missing in, e.g.
    /// `has no sounds/kk/welcome.wav`; empty when it can be played in every language.
    fn missing(&self, name: &str) -> Vec<String>;
}

/// For parsing without a prompt library (tests, direct calls): every prompt exists.
pub struct NoPromptCheck;

impl PromptCheck for NoPromptCheck {
    fn missing(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
}

/// All flows of a directory, by name (file stem).
#[derive(Debug, Default)]
pub struct FlowSet {
    flows: HashMap<String, Arc<Flow>>,
}

impl FlowSet {
    /// Load every `*.yaml` / `*.yml` file, checking its prompts with `prompts`; collects the
    /// problems of all files.
    pub fn load_dir(dir: &Path, prompts: &dyn PromptCheck) -> Result<FlowSet, FlowErrors> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| FlowErrors::one(dir, 0, format!("cannot read flow directory: {e}")))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")))
            .collect();
        paths.sort();
        let mut set = FlowSet::default();
        let mut errors = FlowErrors::default();
        for path in paths {
            match Flow::load(&path, prompts) {
                Ok(flow) => {
                    set.flows.insert(flow.name.clone(), Arc::new(flow));
                }
                Err(e) => errors.0.extend(e.0),
            }
        }
        if errors.0.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flows.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.values()
    }

    pub fn insert(&mut self, flow: Flow) {
        self.flows.insert(flow.name.clone(), Arc::new(flow));
    }
}

/// One problem in a flow file: `ivr-flows/main.yaml:17: node "lang" goes to "menu_kz", ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub file: PathBuf,
    pub line: u64,
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlowErrors(pub Vec<FlowError>);

impl FlowErrors {
    fn one(file: &Path, line: u64, message: String) -> Self {
        FlowErrors(vec![FlowError {
            file: file.to_path_buf(),
            line,
            message,
        }])
    }
}

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::units::write_lines(f, &self.0)
    }
}

impl std::error::Error for FlowErrors {}

// ---- raw (serde) form ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    start: Spanned<String>,
    nodes: BTreeMap<String, Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    play: Option<Spanned<Prompts>>,
    next: Option<Spanned<String>>,
    menu: Option<Spanned<RawMenu>>,
    dial: Option<Spanned<String>>,
    trunk: Option<Spanned<String>>,
    ring_timeout: Option<Spanned<String>>,
    on_no_answer: Option<Spanned<String>>,
    on_busy: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
    priority: Option<Spanned<RawCount>>,
    on_overflow: Option<Spanned<String>>,
    hangup: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMenu {
    prompt: Spanned<Prompts>,
    options: BTreeMap<String, Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<RawCount>>,
    invalid: Option<Spanned<Prompts>>,
    no_input: Option<Spanned<Prompts>>,
    on_failure: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Prompts {
    One(String),
    Many(Vec<String>),
}

/// A count as written: a number, or anything else (refused with its line by the validator
/// rather than by serde, which would stop at the first such value).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCount {
    Number(i64),
    Other(serde::de::IgnoredAny),
}

impl Prompts {
    fn into_vec(self) -> Vec<Arc<str>> {
        match self {
            Prompts::One(p) => vec![Arc::from(p)],
            Prompts::Many(ps) => ps.into_iter().map(Arc::from).collect(),
        }
    }
}

/// Limits a menu must respect: long enough for slow callers (MISSION §1.3), short
/// enough that a silent line does not hold a port for minutes.
pub const MENU_TIMEOUT_MIN: Duration = Duration::from_secs(1);
pub const MENU_TIMEOUT_MAX: Duration = Duration::from_secs(60);
pub const MENU_RETRIES_MAX: u32 = 10;
const DEFAULT_MENU_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MENU_RETRIES: u32 = 2;
pub const RING_TIMEOUT_MIN: Duration = Duration::from_secs(5);
pub const RING_TIMEOUT_MAX: Duration = Duration::from_secs(300);
const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(30);

struct Builder<'a> {
    file: &'a Path,
    name: String,
    errors: Vec<FlowError>,
    ids: HashMap<String, NodeId>,
    prompt_check: &'a dyn PromptCheck,
}

impl<'a> Builder<'a> {
    fn new(file: &'a Path, name: String, prompt_check: &'a dyn PromptCheck) -> Self {
        Builder {
            file,
            name,
            errors: Vec::new(),
            ids: HashMap::new(),
            prompt_check,
        }
    }

    fn error(&mut self, line: u64, message: String) {
        self.errors.push(FlowError {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }

    fn target(&mut self, from: &str, what: &str, to: &Spanned<String>) -> NodeId {
        match self.ids.get(&to.value) {
            Some(id) => *id,
            None => {
                self.error(
                    to.referenced.line(),
                    format!(
                        "node \"{from}\" {what} \"{}\", which is not defined",
                        to.value
                    ),
                );
                NodeId(0)
            }
        }
    }

    fn prompts(&mut self, node: &str, line: u64, prompts: Prompts) -> Vec<Arc<str>> {
        let list = prompts.into_vec();
        if list.is_empty() {
            self.error(line, format!("node \"{node}\" plays an empty prompt list"));
        }
        for p in &list {
            if p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.error(
                    line,
                    format!("node \"{node}\": prompt name \"{p}\" must be letters, digits, '_' or '-' (a file sounds/<lang>/{p}.wav)"),
                );
                continue;
            }
            for why in self.prompt_check.missing(p) {
                self.error(line, format!("node \"{node}\": prompt \"{p}\" {why}"));
            }
        }
        list
    }

    fn build(mut self, raw: RawFlow) -> Result<Flow, FlowErrors> {
        if raw.nodes.len() > usize::from(u16::MAX) {
            self.error(1, "too many nodes".into());
            return Err(FlowErrors(self.errors));
        }
        for (i, name) in raw.nodes.keys().enumerate() {
            self.ids.insert(name.clone(), NodeId(i as u16));
        }
        let start = self.target("start", "is", &raw.start);
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        for (name, spanned) in raw.nodes {
            let line = spanned.referenced.line();
            let action = self.node_action(&name, line, spanned.value);
            nodes.push(Node { name, action });
        }
        if self.errors.is_empty() {
            let flow = Flow {
                name: self.name,
                start,
                nodes,
            };
            Ok(flow)
        } else {
            self.errors.sort_by_key(|e| e.line);
            Err(FlowErrors(self.errors))
        }
    }

    fn node_action(&mut self, name: &str, line: u64, raw: RawNode) -> NodeAction {
        let kinds = [
            raw.play.is_some(),
            raw.menu.is_some(),
            raw.dial.is_some(),
            raw.queue.is_some(),
            raw.hangup.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => {
                self.error(
                    line,
                    format!("node \"{name}\" needs one of play, menu, dial, queue or hangup"),
                );
                return NodeAction::Hangup;
            }
            _ => {
                self.error(
                    line,
                    format!("node \"{name}\" may do only one of play, menu, dial, queue or hangup"),
                );
                return NodeAction::Hangup;
            }
        }
        if raw.queue.is_none() {
            let priority = raw.priority.as_ref().map(|p| p.referenced.line());
            let overflow = raw.on_overflow.as_ref().map(|o| o.referenced.line());
            for (key, l) in [("priority", priority), ("on_overflow", overflow)] {
                if let Some(l) = l {
                    self.error(l, format!("node \"{name}\": {key} is only for queue nodes"));
                }
            }
        }
        if let Some(queue) = &raw.queue {
            return NodeAction::Queue(self.queue(name, queue, &raw));
        }
        if raw.dial.is_none() {
            for (key, v) in [
                ("trunk", &raw.trunk),
                ("ring_timeout", &raw.ring_timeout),
                ("on_no_answer", &raw.on_no_answer),
                ("on_busy", &raw.on_busy),
            ] {
                if let Some(v) = v {
                    self.error(
                        v.referenced.line(),
                        format!("node \"{name}\": {key} is only for dial nodes"),
                    );
                }
            }
        }
        if let Some(dial) = &raw.dial {
            return NodeAction::Dial(self.dial(name, dial, &raw));
        }
        if let Some(play) = raw.play {
            let prompts = self.prompts(name, play.referenced.line(), play.value);
            let next = match &raw.next {
                Some(next) => self.target(name, "goes to", next),
                None => {
                    self.error(
                        line,
                        format!("node \"{name}\" plays prompts but has no next node"),
                    );
                    NodeId(0)
                }
            };
            return NodeAction::Play { prompts, next };
        }
        if let Some(next) = &raw.next {
            self.error(
                next.referenced.line(),
                format!("node \"{name}\": next is only for play, dial and queue nodes"),
            );
        }
        if let Some(menu) = raw.menu {
            return NodeAction::Menu(self.menu(name, menu.referenced.line(), menu.value));
        }
        if raw.hangup == Some(false) {
            self.error(
                line,
                format!("node \"{name}\": hangup: false does nothing; remove the node or set true"),
            );
        }
        NodeAction::Hangup
    }

    fn dial(&mut self, name: &str, ext: &Spanned<String>, raw: &RawNode) -> Dial {
        let line = ext.referenced.line();
        let extension = ext.value.trim();
        let trunk = raw.trunk.as_ref().map(|t| {
            let trunk = t.value.trim();
            if trunk.is_empty() {
                self.error(
                    t.referenced.line(),
                    format!(
                        "node \"{name}\": trunk needs a trunk name ([trunks.NAME] in the config)"
                    ),
                );
            }
            Arc::<str>::from(trunk)
        });
        if trunk.is_some() {
            let digits = extension.strip_prefix('+').unwrap_or(extension);
            if !(3..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                self.error(
                    line,
                    format!("node \"{name}\": dial = \"{extension}\": through a trunk, must be a number of 3-15 digits, + allowed first (quote it: dial: \"87172000000\")"),
                );
            }
        } else if !(2..=15).contains(&extension.len())
            || !extension.bytes().all(|b| b.is_ascii_digit())
        {
            self.error(
                line,
                format!("node \"{name}\": dial = \"{extension}\": must be an extension of 2-15 digits (quote it: dial: \"2001\"), or a number with trunk: NAME"),
            );
        }
        let ring_timeout = match &raw.ring_timeout {
            None => DEFAULT_RING_TIMEOUT,
            Some(t) => match parse_duration(&t.value) {
                Some(d) if (RING_TIMEOUT_MIN..=RING_TIMEOUT_MAX).contains(&d) => d,
                _ => {
                    self.error(
                        t.referenced.line(),
                        format!(
                            "node \"{name}\": ring_timeout = \"{}\": must be a duration from 5s to 300s (e.g. \"30s\")",
                            t.value
                        ),
                    );
                    DEFAULT_RING_TIMEOUT
                }
            },
        };
        let on_no_answer = match &raw.on_no_answer {
            Some(t) => self.target(name, "on_no_answer goes to", t),
            None => {
                self.error(
                    line,
                    format!("node \"{name}\" dials but has no on_no_answer node"),
                );
                NodeId(0)
            }
        };
        let on_busy = match &raw.on_busy {
            Some(t) => self.target(name, "on_busy goes to", t),
            None => on_no_answer,
        };
        let next = match &raw.next {
            Some(t) => self.target(name, "goes to", t),
            None => {
                self.error(
                    line,
                    format!("node \"{name}\" dials but has no next node (where the caller goes after the operator hangs up)"),
                );
                NodeId(0)
            }
        };
        Dial {
            extension: Arc::from(extension),
            trunk,
            ring_timeout,
            on_no_answer,
            on_busy,
            next,
        }
    }

    fn queue(&mut self, name: &str, queue: &Spanned<String>, raw: &RawNode) -> QueueNode {
        let line = queue.referenced.line();
        let queue_name = queue.value.trim();
        if queue_name.is_empty() {
            self.error(line, format!("node \"{name}\": queue needs a queue name"));
        }
        let priority = match &raw.priority {
            None => 0,
            Some(p) => match &p.value {
                RawCount::Number(n) if (0..=9).contains(n) => *n as u8,
                _ => {
                    self.error(
                        p.referenced.line(),
                        format!("node \"{name}\": priority must be a whole number from 0 to 9 (higher is served first)"),
                    );
                    0
                }
            },
        };
        let on_overflow = match &raw.on_overflow {
            Some(t) => self.target(name, "on_overflow goes to", t),
            None => {
                self.error(
                    line,
                    format!("node \"{name}\" queues but has no on_overflow node (where the caller goes when the queue is full, waited too long or has nobody logged in)"),
                );
                NodeId(0)
            }
        };
        let next = match &raw.next {
            Some(t) => self.target(name, "goes to", t),
            None => {
                self.error(
                    line,
                    format!("node \"{name}\" queues but has no next node (where the caller goes after the operator hangs up)"),
                );
                NodeId(0)
            }
        };
        QueueNode {
            queue: Arc::from(queue_name),
            priority,
            on_overflow,
            next,
        }
    }

    fn menu(&mut self, name: &str, line: u64, raw: RawMenu) -> Menu {
        let prompt = self.prompts(name, raw.prompt.referenced.line(), raw.prompt.value);
        let mut options = Vec::new();
        if raw.options.is_empty() {
            self.error(line, format!("menu \"{name}\" has no options"));
        }
        for (key, target) in &raw.options {
            let mut chars = key.chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(c), None) => Digit::from_char(c),
                _ => None,
            };
            let to = self.target(name, &format!("option {key} goes to"), target);
            match digit {
                Some(d) => options.push((d, to)),
                None => self.error(
                    target.referenced.line(),
                    format!("menu \"{name}\": option \"{key}\" must be one key: 0-9, *, # or A-D"),
                ),
            }
        }
        let timeout = match raw.timeout {
            None => DEFAULT_MENU_TIMEOUT,
            Some(t) => match parse_duration(&t.value) {
                Some(d) if (MENU_TIMEOUT_MIN..=MENU_TIMEOUT_MAX).contains(&d) => d,
                _ => {
                    self.error(
                        t.referenced.line(),
                        format!(
                            "menu \"{name}\": timeout = \"{}\": must be a duration from 1s to 60s (e.g. \"5s\")",
                            t.value
                        ),
                    );
                    DEFAULT_MENU_TIMEOUT
                }
            },
        };
        let retries = match raw.retries {
            None => DEFAULT_MENU_RETRIES,
            Some(r) => match r.value {
                RawCount::Number(n) if (0..=i64::from(MENU_RETRIES_MAX)).contains(&n) => n as u32,
                value => {
                    let shown = match value {
                        RawCount::Number(n) => n.to_string(),
                        RawCount::Other(_) => "(not a number)".into(),
                    };
                    self.error(
                        r.referenced.line(),
                        format!(
                            "menu \"{name}\": retries = {shown}: must be a whole number from 0 to {MENU_RETRIES_MAX}"
                        ),
                    );
                    DEFAULT_MENU_RETRIES
                }
            },
        };
        let invalid = raw
            .invalid
            .map(|p| self.prompts(name, p.referenced.line(), p.value))
            .unwrap_or_default();
        let no_input = raw
            .no_input
            .map(|p| self.prompts(name, p.referenced.line(), p.value))
            .unwrap_or_default();
        let on_failure = self.target(name, "on_failure goes to", &raw.on_failure);
        Menu {
            prompt,
            options,
            timeout,
            retries,
            invalid,
            no_input,
            on_failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
start: greeting
nodes:
  greeting:
    play: welcome
    next: menu
  menu:
    menu:
      prompt: [menu]
      options: { \"1\": sales, \"2\": support }
      timeout: 4s
      retries: 1
      invalid: invalid_key
      no_input: no_input
      on_failure: goodbye
  sales: { play: sales_info, next: goodbye }
  support: { play: support_info, next: goodbye }
  goodbye: { play: goodbye, next: bye }
  bye: { hangup: true }
";

    const DIAL: &str = "\
start: op
nodes:
  op:
    dial: \"2001\"
    ring_timeout: 20s
    on_no_answer: sorry
    next: bye
  sorry: { play: sorry, next: bye }
  bye: { hangup: true }
";

    #[test]
    fn a_dial_node_parses_with_busy_defaulting_to_no_answer() {
        let f = parse(DIAL).unwrap();
        match &f.node(f.start).action {
            NodeAction::Dial(d) => {
                assert_eq!(&*d.extension, "2001");
                assert_eq!(d.ring_timeout, Duration::from_secs(20));
                assert_eq!(d.on_busy, d.on_no_answer);
                assert_eq!(f.node(d.next).name, "bye");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_dial_node_with_a_trunk_dials_a_number_through_it() {
        let text = DIAL.replace(
            "    dial: \"2001\"\n",
            "    dial: \"+77172000000\"\n    trunk: carrier\n",
        );
        let f = parse(&text).unwrap();
        match &f.node(f.start).action {
            NodeAction::Dial(d) => {
                assert_eq!(&*d.extension, "+77172000000");
                assert_eq!(d.trunk.as_deref(), Some("carrier"));
            }
            other => panic!("{other:?}"),
        }
        match &parse(DIAL).unwrap().node(f.start).action {
            NodeAction::Dial(d) => assert_eq!(d.trunk, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_trunk_number_or_a_trunk_without_dial_is_refused_with_its_line() {
        let text = DIAL.replace(
            "    dial: \"2001\"\n",
            "    dial: \"12\"\n    trunk: carrier\n",
        );
        let lines: Vec<String> = parse(&text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            ["ivr-flows/test.yaml:4: node \"op\": dial = \"12\": through a trunk, must be a number of 3-15 digits, + allowed first (quote it: dial: \"87172000000\")"]
        );
        let text = DIAL.replace(
            "  sorry: { play: sorry, next: bye }",
            "  sorry: { play: sorry, next: bye, trunk: carrier }",
        );
        let lines: Vec<String> = parse(&text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            ["ivr-flows/test.yaml:8: node \"sorry\": trunk is only for dial nodes"]
        );
    }

    #[test]
    fn a_dial_node_names_every_problem_with_its_line() {
        let text = DIAL
            .replace("\"2001\"", "sales")
            .replace("20s", "2s")
            .replace("    on_no_answer: sorry\n", "");
        let e = parse(&text).unwrap_err();
        let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "ivr-flows/test.yaml:4: node \"op\": dial = \"sales\": must be an extension of 2-15 digits (quote it: dial: \"2001\"), or a number with trunk: NAME",
                "ivr-flows/test.yaml:4: node \"op\" dials but has no on_no_answer node",
                "ivr-flows/test.yaml:5: node \"op\": ring_timeout = \"2s\": must be a duration from 5s to 300s (e.g. \"30s\")",
            ]
        );
    }

    fn parse(text: &str) -> Result<Flow, FlowErrors> {
        Flow::parse(Path::new("ivr-flows/test.yaml"), text)
    }

    #[test]
    fn a_good_flow_parses_with_its_menu() {
        let flow = parse(GOOD).expect("valid");
        assert_eq!(flow.name, "test");
        assert_eq!(flow.node(flow.start).name, "greeting");
        let menu = flow.node_id("menu").unwrap();
        match &flow.node(menu).action {
            NodeAction::Menu(m) => {
                assert_eq!(m.timeout, Duration::from_secs(4));
                assert_eq!(m.retries, 1);
                assert_eq!(m.options.len(), 2);
                assert_eq!(m.options[0].0.as_char(), '1');
                assert_eq!(flow.node(m.options[0].1).name, "sales");
                assert_eq!(flow.node(m.on_failure).name, "goodbye");
            }
            other => panic!("not a menu: {other:?}"),
        }
        let mut prompts: Vec<&str> = flow.prompt_names().collect();
        prompts.sort();
        prompts.dedup();
        assert_eq!(
            prompts,
            [
                "goodbye",
                "invalid_key",
                "menu",
                "no_input",
                "sales_info",
                "support_info",
                "welcome"
            ]
        );
    }

    #[test]
    fn an_undefined_target_names_file_line_and_node() {
        let text = GOOD.replace("next: menu", "next: menu_kz");
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ivr-flows/test.yaml:5: node \"greeting\" goes to \"menu_kz\", which is not defined"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = GOOD
            .replace("timeout: 4s", "timeout: 90s")
            .replace("\"2\": support", "\"22\": support")
            .replace("on_failure: goodbye", "on_failure: nowhere");
        let err = parse(&text).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0]
            .starts_with("ivr-flows/test.yaml:9: menu \"menu\": option \"22\" must be one key"));
        assert!(lines[1].starts_with("ivr-flows/test.yaml:10: menu \"menu\": timeout = \"90s\": must be a duration from 1s to 60s"));
        assert!(lines[2]
            .starts_with("ivr-flows/test.yaml:14: node \"menu\" on_failure goes to \"nowhere\""));
    }

    /// Prompts missing in some languages, as the preflight's library check would say.
    struct Missing(&'static [(&'static str, &'static str)]);

    impl PromptCheck for Missing {
        fn missing(&self, name: &str) -> Vec<String> {
            self.0
                .iter()
                .filter(|(_, n)| *n == name)
                .map(|(lang, n)| format!("has no sounds/{lang}/{n}.wav"))
                .collect()
        }
    }

    #[test]
    fn a_broken_next_and_a_missing_prompt_are_both_reported_with_their_lines() {
        let text = GOOD.replace("next: menu", "next: menu_kz");
        let missing = Missing(&[("kk", "welcome"), ("ru", "sales_info"), ("en", "no_input")]);
        let err = Flow::check(Path::new("ivr-flows/test.yaml"), &text, &missing).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "ivr-flows/test.yaml:4: node \"greeting\": prompt \"welcome\" has no sounds/kk/welcome.wav",
                "ivr-flows/test.yaml:5: node \"greeting\" goes to \"menu_kz\", which is not defined",
                "ivr-flows/test.yaml:13: node \"menu\": prompt \"no_input\" has no sounds/en/no_input.wav",
                "ivr-flows/test.yaml:15: node \"sales\": prompt \"sales_info\" has no sounds/ru/sales_info.wav",
            ]
        );
    }

    #[test]
    fn a_missing_prompt_alone_fails_the_flow_with_its_line() {
        let missing = Missing(&[("kk", "goodbye"), ("en", "goodbye")]);
        let err = Flow::check(Path::new("ivr-flows/test.yaml"), GOOD, &missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ivr-flows/test.yaml:17: node \"goodbye\": prompt \"goodbye\" has no sounds/kk/goodbye.wav\n\
             ivr-flows/test.yaml:17: node \"goodbye\": prompt \"goodbye\" has no sounds/en/goodbye.wav"
        );
    }

    #[test]
    fn a_retries_value_that_is_not_a_count_is_one_problem_among_others() {
        let text = GOOD
            .replace("retries: 1", "retries: lots")
            .replace("on_failure: goodbye", "on_failure: nowhere");
        let lines: Vec<String> = parse(&text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "ivr-flows/test.yaml:11: menu \"menu\": retries = (not a number): must be a whole number from 0 to 10",
                "ivr-flows/test.yaml:14: node \"menu\" on_failure goes to \"nowhere\", which is not defined",
            ]
        );
        let err = parse(&GOOD.replace("retries: 1", "retries: -1")).unwrap_err();
        assert!(
            err.to_string()
                .contains(":11: menu \"menu\": retries = -1: must be"),
            "{err}"
        );
    }

    #[test]
    fn a_queue_node_names_its_queue_priority_overflow_and_next_each_checked_with_its_line() {
        let good = "start: q\nnodes:\n  q:\n    queue: support\n    priority: 5\n    on_overflow: bye\n    next: bye\n  bye: { hangup: true }\n";
        let flow = parse(good).unwrap();
        match &flow.node(flow.start).action {
            NodeAction::Queue(q) => {
                assert_eq!(&*q.queue, "support");
                assert_eq!(q.priority, 5);
            }
            other => panic!("{other:?}"),
        }
        let bad = "start: q\nnodes:\n  q:\n    queue: support\n    priority: 12\n  bye: { hangup: true, on_overflow: q }\n";
        let text = parse(bad).unwrap_err().to_string();
        for want in [
            ":4: node \"q\" queues but has no on_overflow node",
            ":4: node \"q\" queues but has no next node",
            ":5: node \"q\": priority must be a whole number from 0 to 9",
            ":6: node \"bye\": on_overflow is only for queue nodes",
        ] {
            assert!(text.contains(want), "{want} in:\n{text}");
        }
    }

    #[test]
    fn a_node_must_do_exactly_one_thing() {
        let err = parse("start: a\nnodes:\n  a: { play: x, hangup: true, next: a }\n  b: {}\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(":3: node \"a\" may do only one of play, menu, dial, queue or hangup"),
            "{text}"
        );
        assert!(
            text.contains(":4: node \"b\" needs one of play, menu, dial, queue or hangup"),
            "{text}"
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_a_line() {
        let err = parse("start: a\nnodes:\n  a: { play: [x, next: a }\n").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].line >= 3, "{err}");
        assert!(err.0[0].message.starts_with("not a valid flow"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("start: a\nnodes:\n  a: { hangup: true, colour: red }\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn prompt_names_must_be_file_names() {
        let err = parse(
            "start: a\nnodes:\n  a: { play: \"../etc/passwd\", next: b }\n  b: { hangup: true }\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("must be letters, digits"), "{err}");
    }
}
