//! `qonyrau acd replay TRACE.jsonl`: feed a queue trace to the EWT estimator and print, for
//! every caller who enters, the estimate that caller would be told first.
//!
//! Input, one JSON object a line, in time order (`t` in seconds):
//! `{"t":0.0,"ev":"login","agent":"a1"}`, `logout` (after the current call), `enter`
//! (`caller`), `answer` (`caller`, `agent`), `hangup` (`agent`: wrap-up starts), `ready`
//! (`agent`), `abandon` (`caller`). Other fields are ignored. Output, one line per `enter`:
//! `{"caller":"c17","t":12.5,"position":3,"ewt_s":143.0}`, `position` = callers waiting
//! ahead + 1 (FIFO), `ewt_s` = null when no agent is there to answer.
//!
//! Errors stop the replay and name the line: unreadable or malformed lines, unknown events,
//! missing fields, bad or backward time, an answer to a caller who is not waiting (the
//! positions after it would be wrong). Oddities that leave positions right are warnings,
//! counted in [`ReplayStats`]: a second `enter` of a waiting caller, an `abandon` of a caller
//! not waiting, agent events for an agent never seen.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::acd::ewt::{AgentId, CallerId, Ewt, EwtConfig, QueueEvent};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayStats {
    pub lines: u64,
    pub enters: u64,
    pub answers: u64,
    pub abandons: u64,
    pub warning_count: u64,
    /// The first [`MAX_WARNINGS`] warnings.
    pub warnings: Vec<ReplayWarning>,
}

pub const MAX_WARNINGS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct ReplayWarning {
    pub line: u64,
    pub kind: WarningKind,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WarningKind {
    #[error("caller {0:?} entered again while waiting; ignored")]
    DuplicateEnter(String),
    #[error("abandon of caller {0:?}, who is not waiting; ignored")]
    AbandonNotWaiting(String),
    #[error("{ev} of agent {agent:?}, never seen before; ignored")]
    UnknownAgent { ev: &'static str, agent: String },
    #[error("answer by agent {0:?}, never logged in; taken as logged in")]
    AnswerByUnknownAgent(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line}: cannot read: {source}")]
    Read { line: u64, source: io::Error },
    #[error("line {line}: not a JSON event object: {source}")]
    Json {
        line: u64,
        source: serde_json::Error,
    },
    #[error("line {line}: unknown event {ev:?}")]
    UnknownEvent { line: u64, ev: String },
    #[error("line {line}: {ev} needs the field {field:?}")]
    MissingField {
        line: u64,
        ev: &'static str,
        field: &'static str,
    },
    #[error("line {line}: time {t} is not a finite number of seconds ≥ 0")]
    BadTime { line: u64, t: f64 },
    #[error("line {line}: time goes backwards ({t} after {prev})")]
    TimeBackwards { line: u64, t: f64, prev: f64 },
    #[error("line {line}: answer of caller {caller:?}, who is not waiting")]
    AnswerNotWaiting { line: u64, caller: String },
    #[error("writing the output: {0}")]
    Write(#[source] io::Error),
}

/// Replays `input` with the default estimator configuration.
pub fn replay(input: impl BufRead, out: impl Write) -> Result<ReplayStats, ReplayError> {
    replay_with(EwtConfig::default(), input, out)
}

pub fn replay_with(
    cfg: EwtConfig,
    mut input: impl BufRead,
    mut out: impl Write,
) -> Result<ReplayStats, ReplayError> {
    let mut r = Replayer {
        ewt: Ewt::new(cfg),
        ..Replayer::default()
    };
    let mut buf = String::new();
    loop {
        buf.clear();
        let line = r.stats.lines + 1;
        match input.read_line(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(source) => return Err(ReplayError::Read { line, source }),
        }
        r.stats.lines = line;
        if buf.trim().is_empty() {
            continue;
        }
        let raw: RawEvent<'_> =
            serde_json::from_str(&buf).map_err(|source| ReplayError::Json { line, source })?;
        if let Some(told) = r.step(line, &raw)? {
            serde_json::to_writer(&mut out, &told).map_err(|e| ReplayError::Write(e.into()))?;
            out.write_all(b"\n").map_err(ReplayError::Write)?;
        }
    }
    out.flush().map_err(ReplayError::Write)?;
    Ok(r.stats)
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    t: Option<f64>,
    #[serde(borrow)]
    ev: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    caller: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Told<'a> {
    caller: &'a str,
    t: f64,
    position: usize,
    ewt_s: Option<f64>,
}

struct Replayer {
    ewt: Ewt,
    agents: HashMap<String, AgentId>,
    /// Callers waiting now.
    waiting: HashMap<String, CallerId>,
    next_caller: u64,
    last_t: f64,
    stats: ReplayStats,
}

impl Default for Replayer {
    fn default() -> Self {
        Replayer {
            ewt: Ewt::new(EwtConfig::default()),
            agents: HashMap::new(),
            waiting: HashMap::new(),
            next_caller: 0,
            last_t: 0.0,
            stats: ReplayStats::default(),
        }
    }
}

impl Replayer {
    fn step<'r>(
        &mut self,
        line: u64,
        raw: &'r RawEvent<'r>,
    ) -> Result<Option<Told<'r>>, ReplayError> {
        let ev_name = raw.ev.as_deref().ok_or(ReplayError::MissingField {
            line,
            ev: "event",
            field: "ev",
        })?;
        let ev: &'static str = match ev_name {
            "login" => "login",
            "logout" => "logout",
            "enter" => "enter",
            "answer" => "answer",
            "hangup" => "hangup",
            "ready" => "ready",
            "abandon" => "abandon",
            other => {
                return Err(ReplayError::UnknownEvent {
                    line,
                    ev: other.to_owned(),
                })
            }
        };
        let t = raw.t.ok_or(ReplayError::MissingField {
            line,
            ev,
            field: "t",
        })?;
        if !t.is_finite() || t < 0.0 {
            return Err(ReplayError::BadTime { line, t });
        }
        if t < self.last_t {
            return Err(ReplayError::TimeBackwards {
                line,
                t,
                prev: self.last_t,
            });
        }
        self.last_t = t;
        let field = |v: &'r Option<Cow<'r, str>>, field| {
            v.as_deref()
                .ok_or(ReplayError::MissingField { line, ev, field })
        };
        match ev {
            "enter" => {
                let name = field(&raw.caller, "caller")?;
                if self.waiting.contains_key(name) {
                    self.warn(line, WarningKind::DuplicateEnter(name.to_owned()));
                    return Ok(None);
                }
                let position = self.waiting.len() + 1;
                let caller = CallerId(self.next_caller);
                self.next_caller += 1;
                self.waiting.insert(name.to_owned(), caller);
                self.stats.enters += 1;
                self.ewt.handle(t, &QueueEvent::Enter { caller });
                let ewt_s = self
                    .ewt
                    .estimate(t, position)
                    .map(|w| (w * 10.0).round() / 10.0);
                return Ok(Some(Told {
                    caller: name,
                    t,
                    position,
                    ewt_s,
                }));
            }
            "answer" => {
                let name = field(&raw.caller, "caller")?;
                let agent_name = field(&raw.agent, "agent")?;
                let caller =
                    self.waiting
                        .remove(name)
                        .ok_or_else(|| ReplayError::AnswerNotWaiting {
                            line,
                            caller: name.to_owned(),
                        })?;
                let agent = match self.agents.get(agent_name) {
                    Some(&a) => a,
                    None => {
                        self.warn(
                            line,
                            WarningKind::AnswerByUnknownAgent(agent_name.to_owned()),
                        );
                        self.agent(agent_name)
                    }
                };
                self.stats.answers += 1;
                self.ewt.handle(t, &QueueEvent::Answer { caller, agent });
            }
            "abandon" => {
                let name = field(&raw.caller, "caller")?;
                match self.waiting.remove(name) {
                    Some(caller) => {
                        self.stats.abandons += 1;
                        self.ewt.handle(t, &QueueEvent::Abandon { caller });
                    }
                    None => self.warn(line, WarningKind::AbandonNotWaiting(name.to_owned())),
                }
            }
            "login" => {
                let agent = self.agent(field(&raw.agent, "agent")?);
                self.ewt.handle(t, &QueueEvent::Login { agent });
            }
            _ => {
                let name = field(&raw.agent, "agent")?;
                let Some(&agent) = self.agents.get(name) else {
                    self.warn(
                        line,
                        WarningKind::UnknownAgent {
                            ev,
                            agent: name.to_owned(),
                        },
                    );
                    return Ok(None);
                };
                let qe = match ev {
                    "logout" => QueueEvent::Logout { agent },
                    "hangup" => QueueEvent::Hangup { agent },
                    _ => QueueEvent::Ready { agent },
                };
                self.ewt.handle(t, &qe);
            }
        }
        Ok(None)
    }

    fn agent(&mut self, name: &str) -> AgentId {
        let next = AgentId(self.agents.len() as u32);
        *self.agents.entry(name.to_owned()).or_insert(next)
    }

    fn warn(&mut self, line: u64, kind: WarningKind) {
        self.stats.warning_count += 1;
        if self.stats.warnings.len() < MAX_WARNINGS {
            self.stats.warnings.push(ReplayWarning { line, kind });
        }
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
