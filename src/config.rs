//! Typed configuration: `config/qonyrau.toml` parsed into [`Config`], whose fields are
//! already valid (addresses, port ranges, durations). Every problem is reported at once
//! with file, line, key and the rule broken (STYLE.md §6):
//!
//! ```text
//! config/qonyrau.toml:12: rtp.port_max = 20001: the range must hold at least 2 pairs of an even (RTP) and the next odd (RTCP) port
//! ```
//!
//! Defaults work on one machine: loopback SIP on 5060 (UDP and TCP), RTP 20000–29999,
//! HTTP on 127.0.0.1:8080, the bundled flows and prompts, a SQLite file under `data/`, the
//! support queue on 600 (`[acd]` and `[queues.<name>]` are parsed in `config/acd.rs`), no
//! trunk (`[trunks.<name>]`, parsed in `config/trunk.rs`).
//! What is allowed but likely a mistake goes to [`Config::warnings`], logged at start.
//! Checks that need the disk beyond this file (flows, prompts) run in the preflight
//! (`crate::preflight`), which `qonyrau serve` and `qonyrau flows check` share.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::units::{format_size, parse_duration, parse_size};

mod acd;
pub(crate) use acd::key_part;
pub use acd::{AcdConfig, QueueCallbackDef, QueueDef, MOH_CLASS_RULE};
mod trunk;
pub use trunk::TrunkConfig;
mod callbacks;
pub use callbacks::CallbacksConfig;

#[derive(Debug, Clone)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub http: HttpConfig,
    pub ivr: IvrConfig,
    pub media: MediaConfig,
    pub database: DatabaseConfig,
    pub desk: DeskConfig,
    pub registrar: RegistrarConfig,
    pub log: LogConfig,
    /// Queues and operators: `[acd]` and `[queues.<name>]`.
    pub acd: AcdConfig,
    /// Outbound SIP trunks to carriers, `[trunks.<name>]` in file order; none by default.
    pub trunks: Vec<TrunkConfig>,
    /// How callbacks are placed, `[callbacks]`.
    pub callbacks: CallbacksConfig,
    /// What the file may mean by mistake but is allowed (an announcement interval over a
    /// minute, a queue without members), with file and line; logged at start.
    pub warnings: Vec<ConfigError>,
}

/// Operators' softphones: REGISTER with digest authentication, the SIP lockout.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Digest realm; SIP passwords are stored as HA1 values of it, so changing it means
    /// setting every SIP password again.
    pub realm: String,
    /// Offered in this order; MD5 by default (baresip and SIPp speak only MD5).
    pub algorithms: Vec<crate::sip::digest::Algorithm>,
    pub expiry: crate::sip::registrar::ExpiryPolicy,
    pub nonce_lifetime: Duration,
    /// Wrong digest answers in a row that lock an extension, and for how long.
    pub lock_after: u32,
    pub lock_for: Duration,
    /// Failures from one address within `source_window` that refuse the address.
    pub source_failures: usize,
    pub source_window: Duration,
    /// OPTIONS to every registered contact this often (0 = never); a contact that does not
    /// answer is not called until it answers or registers again.
    pub qualify_every: Duration,
}

#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Addresses served over UDP, one socket each (IPv4 and IPv6 at once is fine); empty
    /// when disabled (`udp = ""` or `[]`).
    pub udp: Vec<SocketAddr>,
    /// Addresses served over TCP, one listener each; empty when disabled.
    pub tcp: Vec<SocketAddr>,
    /// SO_RCVBUF asked for each SIP/UDP socket, in bytes: room for a burst of datagrams
    /// while the reader is busy (Linux doubles it and caps it at `net.core.rmem_max`).
    pub udp_recv_buffer: usize,
    /// Calls in progress at once; beyond it new INVITEs get 503 with Retry-After.
    pub max_calls: usize,
    /// Seconds put in Retry-After when overloaded or shutting down.
    pub retry_after: u32,
    /// How long a call may take to end after SIGTERM before it is dropped.
    pub shutdown_grace: Duration,
    pub user_agent: String,
    /// New INVITEs per source per second (0 = no limit), burst, and exempt sources.
    pub invite_rate: crate::sip::rate_limit::RatePolicy,
    /// RFC 3261 T1 (the round-trip estimate): retransmissions start at T1 and transactions
    /// give up at 64·T1. 500 ms by default, as the RFC recommends.
    pub t1: Duration,
    /// Session timers (RFC 4028) for calls whose peer supports them.
    pub session_timer: crate::sip::session_timer::SessionTimerPolicy,
}

#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// Address RTP sockets bind to and that our SDP advertises.
    pub ip: IpAddr,
    /// Inclusive range; RTP uses the even ports in it, RTCP the odd port above each.
    pub ports: RangeInclusive<u16>,
    /// A call whose caller sends no RTP for this long is ended (0 = never).
    pub timeout: Duration,
    /// RTCP report interval of every leg, randomised 0.5–1.5× (RFC 3550 §6.3.1).
    pub rtcp_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct IvrConfig {
    pub flows_dir: PathBuf,
    pub sounds_dir: PathBuf,
    pub default_flow: String,
    /// Prompt language when a flow does not choose one: `kk`, `ru` or `en`.
    pub language: String,
    /// Dialled number (Request-URI user part) to flow name; others go to `default_flow`.
    pub numbers: BTreeMap<String, String>,
    /// Ring (180) this long before answering; 0 answers at once.
    pub answer_after: Duration,
    /// How long the target of an operator's transfer (REFER) rings before the caller goes
    /// back to the operator.
    pub transfer_ring_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Detect DTMF sent as audio (Goertzel) as well as RFC 4733 events and SIP INFO.
    pub inband_dtmf: bool,
    /// Run media workers with real-time priority (SCHED_FIFO) when allowed, for on-time
    /// frames under CPU contention.
    pub realtime: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `sqlite://data/qonyrau.db` (created on first start) or `postgres://…`.
    pub url: String,
}

/// The service desk: calendar, SLA job, priority matrix, API sessions.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// `config/calendar/YYYY.toml`, a file per year.
    pub calendar_dir: PathBuf,
    /// How often the SLA job records breaches and closes tickets nobody answered.
    pub sla_check_every: Duration,
    /// How long an API session (token or cookie) lives.
    pub session_ttl: Duration,
    pub complaint_review_days: u32,
    /// Working time a ticket may wait for the caller before it is closed as "no response".
    pub auto_close_after: Duration,
    pub priority_matrix: crate::tickets::priority::PriorityMatrix,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub cookie_secure: bool,
    /// Language of API error messages when the request has no session and its
    /// `Accept-Language` names none of kk, ru, en (a session's own language wins).
    pub default_language: crate::staff::Language,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `qonyrau=debug`; `RUST_LOG` overrides it.
    pub level: String,
    /// Mask caller numbers and IINs in logs above `trace` (production default).
    pub redact_pii: bool,
}

pub const DEFAULT_PATH: &str = "config/qonyrau.toml";
/// `sip.udp_recv_buffer`: 4 KiB (tests that make the kernel drop) to 1 GiB (SO_RCVBUF is an
/// `int` that Linux doubles).
const UDP_RECV_BUFFER_RANGE: RangeInclusive<u64> = 4 << 10..=1 << 30;
pub const LANGUAGES: [&str; 3] = ["kk", "ru", "en"];

impl Default for Config {
    fn default() -> Self {
        Config::from_raw(Path::new("<defaults>"), "", RawConfig::default(), &|_| None)
            .expect("the built-in defaults are valid")
    }
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                message: format!("cannot read: {e}"),
            }],
        })?;
        Config::parse(path, &text)
    }

    /// Validate the text of a config file; `path` is used only in messages. Trunk
    /// passwords may come from the environment (`QONYRAU_TRUNK_<NAME>_PASSWORD`).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with_env(path, text, &|name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse) with `env` in place of the process environment.
    pub fn parse_with_env(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                file: path.to_path_buf(),
                line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
                message: e.message().to_string(),
            }],
        })?;
        Config::from_raw(path, text, raw, env)
    }

    fn from_raw(
        path: &Path,
        text: &str,
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut v = Validator {
            file: path,
            text,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let errors_before = v.errors.len();
        let (udp, tcp) = (
            v.addrs("sip.udp", &raw.sip.udp),
            v.addrs("sip.tcp", &raw.sip.tcp),
        );
        let bad_address = v.errors.len() > errors_before;
        let sip = SipConfig {
            udp,
            tcp,
            udp_recv_buffer: v.size(
                "sip.udp_recv_buffer",
                &raw.sip.udp_recv_buffer,
                UDP_RECV_BUFFER_RANGE,
            ) as usize,
            max_calls: v.range("sip.max_calls", &raw.sip.max_calls, 1..=100_000) as usize,
            retry_after: v.range("sip.retry_after", &raw.sip.retry_after, 1..=3600) as u32,
            shutdown_grace: v.duration(
                "sip.shutdown_grace",
                &raw.sip.shutdown_grace,
                Duration::ZERO..=Duration::from_secs(60),
            ),
            user_agent: raw.sip.user_agent.into_inner(),
            t1: v.duration(
                "sip.t1",
                &raw.sip.t1,
                Duration::from_millis(50)..=Duration::from_secs(5),
            ),
            session_timer: crate::sip::session_timer::SessionTimerPolicy {
                session_expires: v.duration(
                    "sip.session_expires",
                    &raw.sip.session_expires,
                    Duration::from_secs(90)..=Duration::from_secs(86_400),
                ),
                min_se: v.duration(
                    "sip.min_se",
                    &raw.sip.min_se,
                    Duration::from_secs(90)..=Duration::from_secs(86_400),
                ),
            },
            invite_rate: crate::sip::rate_limit::RatePolicy {
                per_second: v.range("sip.invite_rate", &raw.sip.invite_rate, 0..=100_000) as f64,
                burst: v.range("sip.invite_burst", &raw.sip.invite_burst, 1..=100_000) as f64,
                trusted: raw
                    .sip
                    .trusted
                    .iter()
                    .map(|a| v.ip("sip.trusted", a))
                    .collect(),
            },
        };
        // (An address refused above already explains an empty list.)
        if sip.udp.is_empty() && sip.tcp.is_empty() && !bad_address {
            v.error_at(
                0,
                "sip: at least one of sip.udp and sip.tcp must be set".into(),
            );
        }
        let rtp_ip = v.ip("rtp.ip", &raw.rtp.ip);
        let port_min = v.range("rtp.port_min", &raw.rtp.port_min, 1024..=65534) as u16;
        let port_max = v.range("rtp.port_max", &raw.rtp.port_max, 1025..=65535) as u16;
        // RTP on an even port, RTCP on the odd one above it (RFC 3550 §11).
        let pairs = (port_min..port_max).filter(|p| p % 2 == 0).count();
        if pairs < 2 {
            v.error(
                &raw.rtp.port_max,
                format!(
                    "rtp.port_max = {port_max}: the range {port_min}-{port_max} must hold at least 2 pairs of an even (RTP) and the next odd (RTCP) port"
                ),
            );
        }
        let rtp = RtpConfig {
            ip: rtp_ip,
            ports: port_min..=port_max,
            timeout: v.duration(
                "rtp.timeout",
                &raw.rtp.timeout,
                Duration::ZERO..=Duration::from_secs(3600),
            ),
            rtcp_interval: v.duration(
                "rtp.rtcp_interval",
                &raw.rtp.rtcp_interval,
                Duration::from_millis(100)..=Duration::from_secs(60),
            ),
        };
        let http = HttpConfig {
            listen: v.addr("http.listen", &raw.http.listen),
        };
        if !LANGUAGES.contains(&raw.ivr.language.get_ref().as_str()) {
            v.error(
                &raw.ivr.language,
                format!(
                    "ivr.language = \"{}\": must be one of kk, ru, en",
                    raw.ivr.language.get_ref()
                ),
            );
        }
        let ivr = IvrConfig {
            flows_dir: PathBuf::from(raw.ivr.flows_dir),
            sounds_dir: PathBuf::from(raw.ivr.sounds_dir),
            default_flow: raw.ivr.default_flow,
            language: raw.ivr.language.into_inner(),
            numbers: raw.ivr.numbers,
            answer_after: v.duration(
                "ivr.answer_after",
                &raw.ivr.answer_after,
                Duration::ZERO..=Duration::from_secs(30),
            ),
            transfer_ring_timeout: v.duration(
                "ivr.transfer_ring_timeout",
                &raw.ivr.transfer_ring_timeout,
                Duration::from_secs(5)..=Duration::from_secs(300),
            ),
        };
        let registrar = v.registrar(&raw.registrar);
        let acd = v.acd(&raw.acd, &raw.queues, &ivr.numbers);
        let trunks = v.trunks(&raw.trunks, env);
        let callbacks = v.callbacks(&raw.callbacks, &acd, &trunks);
        let mut sip = sip;
        // A trunk's addresses are trusted sources: the carrier's calls are not rate-limited.
        for t in &trunks {
            for a in &t.accept_from {
                if !sip.invite_rate.trusted.contains(a) {
                    sip.invite_rate.trusted.push(*a);
                }
            }
        }
        let config = Config {
            registrar,
            sip,
            rtp,
            http,
            ivr,
            media: MediaConfig {
                inband_dtmf: raw.media.inband_dtmf,
                realtime: raw.media.realtime,
            },
            database: DatabaseConfig {
                url: raw.database.url,
            },
            desk: DeskConfig {
                calendar_dir: PathBuf::from(raw.desk.calendar_dir),
                sla_check_every: v.duration(
                    "desk.sla_check_every",
                    &raw.desk.sla_check_every,
                    Duration::from_secs(1)..=Duration::from_secs(3600),
                ),
                session_ttl: v.duration(
                    "desk.session_ttl",
                    &raw.desk.session_ttl,
                    Duration::from_secs(60)..=Duration::from_secs(7 * 24 * 3600),
                ),
                complaint_review_days: v.range(
                    "desk.complaint_review_days",
                    &raw.desk.complaint_review_days,
                    1..=90,
                ) as u32,
                auto_close_after: v.duration(
                    "desk.auto_close_after",
                    &raw.desk.auto_close_after,
                    Duration::from_secs(60)..=Duration::from_secs(30 * 24 * 3600),
                ),
                priority_matrix: v.matrix("desk.priority_matrix", &raw.desk.priority_matrix),
                cookie_secure: raw.desk.cookie_secure,
                default_language: v.language("desk.default_language", &raw.desk.default_language),
            },
            log: LogConfig {
                level: raw.log.level,
                redact_pii: raw.log.redact_pii,
            },
            acd,
            trunks,
            callbacks,
            warnings: v.warnings,
        };
        if v.errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors { errors: v.errors })
        }
    }

    /// The flow a dialled number reaches.
    pub fn flow_for_number(&self, number: &str) -> &str {
        self.ivr
            .numbers
            .get(number)
            .map(String::as_str)
            .unwrap_or(&self.ivr.default_flow)
    }
}

/// One problem: `file:line: key = value: rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Where a key is set, for a check after loading (the preflight's, which needs the disk) to
/// report a problem at: the file, and the line of the key, or of its table when the key was
/// left out; line 0 for a built-in default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyAt {
    pub file: PathBuf,
    pub line: usize,
}

impl KeyAt {
    /// A problem at this key: `file:line: message`.
    pub fn error(&self, message: String) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.line,
            message,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::units::write_lines(f, &self.errors)
    }
}

impl std::error::Error for ConfigErrors {}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(0)
}

struct Validator<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Validator<'_> {
    fn error<T>(&mut self, at: &Spanned<T>, message: String) {
        let line = self.line(at);
        self.error_at(line, message);
    }

    fn warning<T>(&mut self, at: &Spanned<T>, message: String) {
        let line = self.line(at);
        self.warnings.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }

    fn line<T>(&self, at: &Spanned<T>) -> usize {
        if self.text.is_empty() {
            0
        } else {
            line_of(self.text, at.span().start)
        }
    }

    fn error_at(&mut self, line: usize, message: String) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }

    fn addr(&mut self, key: &str, raw: &Spanned<String>) -> SocketAddr {
        match raw.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    raw,
                    format!(
                        "{key} = \"{}\": must be an IP address and port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\"",
                        raw.get_ref()
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        }
    }

    /// One address (`"127.0.0.1:5060"`), several (`["127.0.0.1:5060", "[::1]:5060"]`), or
    /// none (`""`, `[]`). A bad entry of a list is named with its index: `sip.udp[1]`.
    fn addrs(&mut self, key: &str, raw: &Spanned<RawAddrs>) -> Vec<SocketAddr> {
        let texts: Vec<(String, &str)> = match raw.get_ref() {
            RawAddrs::One(t) if t.is_empty() => Vec::new(),
            RawAddrs::One(t) => vec![(key.to_string(), t.as_str())],
            RawAddrs::Many(list) => list
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("{key}[{i}]"), t.as_str()))
                .collect(),
        };
        let mut out = Vec::with_capacity(texts.len());
        for (name, text) in texts {
            match text.parse::<SocketAddr>() {
                Ok(a) if out.contains(&a) => self.error(
                    raw,
                    format!("{name} = \"{text}\": listed twice"),
                ),
                Ok(a) => out.push(a),
                Err(_) => self.error(
                    raw,
                    format!(
                        "{name} = \"{text}\": must be an IP address and port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\""
                    ),
                ),
            }
        }
        out
    }

    fn ip(&mut self, key: &str, raw: &Spanned<String>) -> IpAddr {
        match raw.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    raw,
                    format!("{key} = \"{}\": must be an IP address", raw.get_ref()),
                );
                IpAddr::from([127, 0, 0, 1])
            }
        }
    }

    fn range(&mut self, key: &str, raw: &Spanned<i64>, allowed: RangeInclusive<i64>) -> i64 {
        let value = *raw.get_ref();
        if allowed.contains(&value) {
            value
        } else {
            self.error(
                raw,
                format!(
                    "{key} = {value}: must be from {} to {}",
                    allowed.start(),
                    allowed.end()
                ),
            );
            *allowed.start()
        }
    }

    fn language(&mut self, key: &str, raw: &Spanned<String>) -> crate::staff::Language {
        raw.get_ref().parse().unwrap_or_else(|_| {
            self.error(
                raw,
                format!("{key} = \"{}\": must be one of kk, ru, en", raw.get_ref()),
            );
            crate::staff::Language::Ru
        })
    }

    fn registrar(&mut self, raw: &RawRegistrar) -> RegistrarConfig {
        use crate::sip::digest::Algorithm;
        let realm = raw.realm.get_ref().clone();
        if realm.is_empty() || realm.contains(['"', '\\', '\r', '\n']) {
            self.error(
                &raw.realm,
                format!("registrar.realm = \"{realm}\": must be non-empty, without quotes or backslashes"),
            );
        }
        let mut algorithms = Vec::new();
        for name in raw.algorithms.get_ref() {
            match Algorithm::parse(name) {
                Ok(a) if !algorithms.contains(&a) => algorithms.push(a),
                Ok(_) => {}
                Err(_) => self.error(
                    &raw.algorithms,
                    format!("registrar.algorithms: \"{name}\" is not one of \"MD5\", \"SHA-256\""),
                ),
            }
        }
        if algorithms.is_empty() && raw.algorithms.get_ref().is_empty() {
            self.error(
                &raw.algorithms,
                "registrar.algorithms: name at least one of \"MD5\", \"SHA-256\"".into(),
            );
        }
        let min = self.range("registrar.min_expires", &raw.min_expires, 10..=86_400) as u32;
        let max = self.range("registrar.max_expires", &raw.max_expires, 10..=86_400) as u32;
        let default = self.range(
            "registrar.default_expires",
            &raw.default_expires,
            10..=86_400,
        ) as u32;
        if max < min {
            self.error(
                &raw.max_expires,
                format!("registrar.max_expires = {max}: must not be below min_expires ({min})"),
            );
        }
        RegistrarConfig {
            realm,
            algorithms,
            expiry: crate::sip::registrar::ExpiryPolicy {
                min,
                max,
                default: default.clamp(min, max.max(min)),
            },
            nonce_lifetime: self.duration(
                "registrar.nonce_lifetime",
                &raw.nonce_lifetime,
                Duration::from_secs(10)..=Duration::from_secs(3600),
            ),
            lock_after: self.range("registrar.lock_after", &raw.lock_after, 1..=100) as u32,
            lock_for: self.duration(
                "registrar.lock_for",
                &raw.lock_for,
                Duration::from_secs(1)..=Duration::from_secs(86_400),
            ),
            source_failures: self.range(
                "registrar.source_failures",
                &raw.source_failures,
                1..=10_000,
            ) as usize,
            source_window: self.duration(
                "registrar.source_window",
                &raw.source_window,
                Duration::from_secs(1)..=Duration::from_secs(86_400),
            ),
            qualify_every: self.duration(
                "registrar.qualify_every",
                &raw.qualify_every,
                Duration::ZERO..=Duration::from_secs(3600),
            ),
        }
    }

    /// Rows urgency highest..planning, columns impact high..minimal, 0 = empty cell.
    fn matrix(
        &mut self,
        key: &str,
        raw: &Spanned<Vec<Vec<u8>>>,
    ) -> crate::tickets::priority::PriorityMatrix {
        use crate::tickets::priority::PriorityMatrix;
        let rows = raw.get_ref();
        let mut cells = [[None; 4]; 5];
        let shaped = rows.len() == 5 && rows.iter().all(|r| r.len() == 4);
        if shaped {
            for (u, row) in rows.iter().enumerate() {
                for (i, p) in row.iter().enumerate() {
                    cells[u][i] = (*p != 0).then_some(*p);
                }
            }
        }
        let built = if shaped {
            PriorityMatrix::from_cells(cells).map_err(|e| e.to_string())
        } else {
            Err("must be 5 rows (urgency highest..planning) of 4 priorities (impact high..minimal), 0 for an empty cell".into())
        };
        built.unwrap_or_else(|why| {
            self.error(raw, format!("{key}: {why}"));
            PriorityMatrix::default()
        })
    }

    fn size(&mut self, key: &str, raw: &Spanned<RawSize>, allowed: RangeInclusive<u64>) -> u64 {
        let parsed = match raw.get_ref() {
            RawSize::Bytes(n) => u64::try_from(*n).ok(),
            RawSize::Text(t) => parse_size(t),
        };
        match parsed {
            Some(n) if allowed.contains(&n) => n,
            _ => {
                let shown = match raw.get_ref() {
                    RawSize::Bytes(n) => n.to_string(),
                    RawSize::Text(t) => format!("\"{t}\""),
                };
                self.error(
                    raw,
                    format!(
                        "{key} = {shown}: must be a size from {} to {} (bytes, or e.g. \"512KiB\", \"4MiB\")",
                        format_size(*allowed.start()),
                        format_size(*allowed.end()),
                    ),
                );
                *allowed.start()
            }
        }
    }

    fn duration(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        allowed: RangeInclusive<Duration>,
    ) -> Duration {
        match parse_duration(raw.get_ref()) {
            Some(d) if allowed.contains(&d) => d,
            _ => {
                self.error(
                    raw,
                    format!(
                        "{key} = \"{}\": must be a duration from {} to {} (e.g. \"5s\", \"500ms\")",
                        raw.get_ref(),
                        crate::units::format_duration(*allowed.start()),
                        crate::units::format_duration(*allowed.end()),
                    ),
                );
                *allowed.start()
            }
        }
    }
}

// ---- raw (serde) form, with the defaults ----

fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// Listen addresses as written: one string or a list of strings.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(
    untagged,
    expecting = "an address and port like \"127.0.0.1:5060\", or a list of them"
)]
enum RawAddrs {
    One(String),
    Many(Vec<String>),
}

/// A byte size as written: a TOML integer (bytes) or a string with a unit (`"4MiB"`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(
    untagged,
    expecting = "a size: a number of bytes, or a string like \"4MiB\""
)]
enum RawSize {
    Bytes(i64),
    Text(String),
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    sip: RawSip,
    rtp: RawRtp,
    http: RawHttp,
    ivr: RawIvr,
    media: RawMedia,
    database: RawDatabase,
    desk: RawDesk,
    registrar: RawRegistrar,
    log: RawLog,
    acd: acd::RawAcd,
    queues: BTreeMap<String, Spanned<acd::RawQueue>>,
    trunks: BTreeMap<String, Spanned<trunk::RawTrunk>>,
    callbacks: callbacks::RawCallbacks,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            sip: RawSip::default(),
            rtp: RawRtp::default(),
            http: RawHttp::default(),
            ivr: RawIvr::default(),
            media: RawMedia::default(),
            database: RawDatabase::default(),
            desk: RawDesk::default(),
            registrar: RawRegistrar::default(),
            log: RawLog::default(),
            acd: acd::RawAcd::default(),
            queues: acd::default_queues(),
            trunks: BTreeMap::new(),
            callbacks: callbacks::RawCallbacks::default(),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawRegistrar {
    realm: Spanned<String>,
    algorithms: Spanned<Vec<String>>,
    min_expires: Spanned<i64>,
    max_expires: Spanned<i64>,
    default_expires: Spanned<i64>,
    nonce_lifetime: Spanned<String>,
    lock_after: Spanned<i64>,
    lock_for: Spanned<String>,
    source_failures: Spanned<i64>,
    source_window: Spanned<String>,
    qualify_every: Spanned<String>,
}

impl Default for RawRegistrar {
    fn default() -> Self {
        RawRegistrar {
            realm: spanned("qonyrau".into()),
            algorithms: spanned(vec!["MD5".into()]),
            min_expires: spanned(60),
            max_expires: spanned(3600),
            default_expires: spanned(3600),
            nonce_lifetime: spanned("300s".into()),
            lock_after: spanned(5),
            lock_for: spanned("10m".into()),
            source_failures: spanned(20),
            source_window: spanned("10m".into()),
            qualify_every: spanned("60s".into()),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawSip {
    udp: Spanned<RawAddrs>,
    tcp: Spanned<RawAddrs>,
    udp_recv_buffer: Spanned<RawSize>,
    max_calls: Spanned<i64>,
    retry_after: Spanned<i64>,
    shutdown_grace: Spanned<String>,
    user_agent: Spanned<String>,
    invite_rate: Spanned<i64>,
    invite_burst: Spanned<i64>,
    t1: Spanned<String>,
    trusted: Vec<Spanned<String>>,
    session_expires: Spanned<String>,
    min_se: Spanned<String>,
}

impl Default for RawSip {
    fn default() -> Self {
        RawSip {
            udp: spanned(RawAddrs::One("127.0.0.1:5060".into())),
            tcp: spanned(RawAddrs::One("127.0.0.1:5060".into())),
            udp_recv_buffer: spanned(RawSize::Text("4MiB".into())),
            max_calls: spanned(4000),
            retry_after: spanned(5),
            shutdown_grace: spanned("3s".into()),
            user_agent: spanned(format!("Qonyrau/{}", env!("CARGO_PKG_VERSION"))),
            invite_rate: spanned(20),
            t1: spanned("500ms".into()),
            invite_burst: spanned(40),
            trusted: Vec::new(),
            session_expires: spanned("30m".into()),
            min_se: spanned("90s".into()),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawRtp {
    ip: Spanned<String>,
    port_min: Spanned<i64>,
    port_max: Spanned<i64>,
    timeout: Spanned<String>,
    rtcp_interval: Spanned<String>,
}

impl Default for RawRtp {
    fn default() -> Self {
        RawRtp {
            ip: spanned("127.0.0.1".into()),
            port_min: spanned(20000),
            port_max: spanned(29999),
            timeout: spanned("60s".into()),
            rtcp_interval: spanned("5s".into()),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    listen: Spanned<String>,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: spanned("127.0.0.1:8080".into()),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawIvr {
    flows_dir: String,
    sounds_dir: String,
    default_flow: String,
    language: Spanned<String>,
    numbers: BTreeMap<String, String>,
    answer_after: Spanned<String>,
    transfer_ring_timeout: Spanned<String>,
}

impl Default for RawIvr {
    fn default() -> Self {
        RawIvr {
            flows_dir: "ivr-flows".into(),
            sounds_dir: "sounds".into(),
            default_flow: "main".into(),
            language: spanned("en".into()),
            numbers: BTreeMap::new(),
            answer_after: spanned("0s".into()),
            transfer_ring_timeout: spanned("30s".into()),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawMedia {
    inband_dtmf: bool,
    realtime: bool,
}

impl Default for RawMedia {
    fn default() -> Self {
        RawMedia {
            inband_dtmf: true,
            realtime: true,
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite://data/qonyrau.db".into(),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawDesk {
    calendar_dir: String,
    sla_check_every: Spanned<String>,
    session_ttl: Spanned<String>,
    complaint_review_days: Spanned<i64>,
    auto_close_after: Spanned<String>,
    priority_matrix: Spanned<Vec<Vec<u8>>>,
    cookie_secure: bool,
    default_language: Spanned<String>,
}

impl Default for RawDesk {
    fn default() -> Self {
        use crate::tickets::priority::DEFAULT_CELLS;
        RawDesk {
            calendar_dir: "config/calendar".into(),
            sla_check_every: spanned("30s".into()),
            session_ttl: spanned("12h".into()),
            complaint_review_days: spanned(5),
            auto_close_after: spanned("8h".into()),
            priority_matrix: spanned(
                DEFAULT_CELLS
                    .iter()
                    .map(|r| r.iter().map(|c| c.unwrap_or(0)).collect())
                    .collect(),
            ),
            cookie_secure: false,
            default_language: spanned("ru".into()),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    level: String,
    redact_pii: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
            redact_pii: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(Path::new("config/qonyrau.toml"), text)
    }

    #[test]
    fn an_empty_file_gives_the_one_machine_defaults() {
        let c = parse("").unwrap();
        let loopback: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        assert_eq!(c.sip.udp, [loopback]);
        assert_eq!(c.sip.tcp, [loopback]);
        assert_eq!(c.rtp.ports, 20000..=29999);
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.ivr.default_flow, "main");
        assert_eq!(c.database.url, "sqlite://data/qonyrau.db");
        assert_eq!(c.flow_for_number("1000"), "main");
    }

    #[test]
    fn the_bundled_config_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
        Config::load(&path).unwrap();
    }

    /// Every key `Config` accepts, as dotted paths (`sip.user_agent`), from the raw form's
    /// defaults: serde names the fields, so a key added to a `Raw*` struct is listed here
    /// without anyone remembering to. An empty table (`ivr.numbers`) is a key itself.
    fn accepted_keys() -> Vec<String> {
        fn walk(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
            match value {
                toml::Value::Table(t) if !t.is_empty() => {
                    for (k, v) in t {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&path, v, out);
                    }
                }
                _ => out.push(prefix.to_string()),
            }
        }
        let mut value = toml::Value::try_from(RawConfig::default()).expect("defaults serialize");
        // No trunk by default: the file documents its keys with a commented-out example.
        value["trunks"] =
            toml::Value::try_from(BTreeMap::from([("carrier", trunk::documented_example())]))
                .expect("the example serializes");
        let mut keys = Vec::new();
        walk("", &value, &mut keys);
        keys
    }

    /// Keys the bundled file mentions, set or commented out (`# key = …`), as dotted paths.
    fn documented_keys(text: &str) -> std::collections::BTreeSet<String> {
        let mut section = String::new();
        let mut keys = std::collections::BTreeSet::new();
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches('#').trim();
            if let Some(rest) = line.strip_prefix('[') {
                if let Some((name, _)) = rest.split_once(']') {
                    section = name.trim().to_string();
                    keys.insert(section.clone());
                }
            } else if let Some((key, _)) = line.split_once('=') {
                let key = key.trim();
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    keys.insert(format!("{section}.{key}"));
                }
            }
        }
        keys
    }

    fn bundled_text() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH)).unwrap()
    }

    #[test]
    fn the_bundled_config_file_documents_every_accepted_key() {
        let documented = documented_keys(&bundled_text());
        let keys = accepted_keys();
        assert!(keys.len() > 40, "{keys:?}");
        let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
        assert!(
            missing.is_empty(),
            "{DEFAULT_PATH} does not mention these keys (add each, commented out if need be, with its default): {missing:?}"
        );
    }

    #[test]
    fn the_bundled_config_file_shows_the_defaults() {
        // Its header promises that the values shown are the defaults, so loading it must
        // change nothing (a value pinned there would stop following a changed default).
        let raw: RawConfig = toml::from_str(&bundled_text()).unwrap();
        assert_eq!(
            toml::Value::try_from(raw).unwrap(),
            toml::Value::try_from(RawConfig::default()).unwrap()
        );
    }

    #[test]
    fn the_documentation_check_sees_a_missing_key() {
        let text = bundled_text().replace("realm = \"qonyrau\"", "");
        let documented = documented_keys(&text);
        assert!(!documented.contains("registrar.realm"));
        assert!(documented.contains("registrar.algorithms"));
        assert!(documented.contains("ivr.numbers"));
    }

    #[test]
    fn the_desk_default_language_is_russian_and_checked() {
        assert_eq!(
            parse("").unwrap().desk.default_language,
            crate::staff::Language::Ru
        );
        let c = parse("[desk]\ndefault_language = \"kk\"\n").unwrap();
        assert_eq!(c.desk.default_language, crate::staff::Language::Kk);
        let err = parse("[desk]\ndefault_language = \"de\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config/qonyrau.toml:2: desk.default_language = \"de\": must be one of kk, ru, en"
        );
    }

    #[test]
    fn numbers_map_to_flows() {
        let c = parse("[ivr.numbers]\n\"1414\" = \"egov\"\n").unwrap();
        assert_eq!(c.flow_for_number("1414"), "egov");
        assert_eq!(c.flow_for_number("1000"), "main");
    }

    #[test]
    fn every_problem_names_file_line_key_and_rule() {
        let text = "[sip]\nudp = \"localhost\"\nmax_calls = 0\n\n[rtp]\nport_min = 20000\nport_max = 20001\ntimeout = \"forever\"\n";
        let err = parse(text).unwrap_err();
        let lines: Vec<String> = err.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "config/qonyrau.toml:2: sip.udp = \"localhost\": must be an IP address and port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\"",
                "config/qonyrau.toml:3: sip.max_calls = 0: must be from 1 to 100000",
                "config/qonyrau.toml:7: rtp.port_max = 20001: the range 20000-20001 must hold at least 2 pairs of an even (RTP) and the next odd (RTCP) port",
                "config/qonyrau.toml:8: rtp.timeout = \"forever\": must be a duration from 0s to 3600s (e.g. \"5s\", \"500ms\")",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_bad_syntax_are_refused_with_a_line() {
        let err = parse("[sip]\nudpp = \"127.0.0.1:5060\"\n").unwrap_err();
        assert_eq!(err.errors[0].line, 2, "{err}");
        assert!(err.to_string().contains("udpp"), "{err}");
        let err = parse("[sip\n").unwrap_err();
        assert_eq!(err.errors[0].line, 1, "{err}");
    }

    #[test]
    fn a_language_outside_kk_ru_en_is_refused() {
        let err = parse("[ivr]\nlanguage = \"de\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config/qonyrau.toml:2: ivr.language = \"de\": must be one of kk, ru, en"
        );
    }

    #[test]
    fn registrar_defaults_offer_md5_and_lock_after_five_for_ten_minutes() {
        let c = parse("").unwrap();
        assert_eq!(c.registrar.algorithms, [crate::sip::digest::Algorithm::Md5]);
        assert_eq!(c.registrar.lock_after, 5);
        assert_eq!(c.registrar.lock_for, Duration::from_secs(600));
        let c = parse("[registrar]\nalgorithms = [\"SHA-256\", \"MD5\"]\n").unwrap();
        assert_eq!(c.registrar.algorithms.len(), 2);
    }

    #[test]
    fn an_unknown_digest_algorithm_is_refused_with_its_line() {
        let err = parse("[registrar]\nalgorithms = [\"MD5-sess\"]\n").unwrap_err();
        assert_eq!(
            err.errors[0].to_string(),
            "config/qonyrau.toml:2: registrar.algorithms: \"MD5-sess\" is not one of \"MD5\", \"SHA-256\""
        );
    }

    #[test]
    fn the_invite_rate_limit_defaults_to_20_a_second_and_trusted_sources_are_addresses() {
        let c = parse("").unwrap();
        assert_eq!(c.sip.invite_rate.per_second, 20.0);
        assert!(c.sip.invite_rate.trusted.is_empty());
        let c = parse("[sip]\ntrusted = [\"127.0.0.1\", \"::1\"]\n").unwrap();
        assert_eq!(c.sip.invite_rate.trusted.len(), 2);
        let err = parse("[sip]\ntrusted = [\"trunk.example\"]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config/qonyrau.toml:2: sip.trusted = \"trunk.example\": must be an IP address"
        );
    }

    #[test]
    fn the_udp_receive_buffer_is_a_size_in_bytes_or_binary_units() {
        assert_eq!(parse("").unwrap().sip.udp_recv_buffer, 4 << 20);
        let c = parse("[sip]\nudp_recv_buffer = \"16MiB\"\n").unwrap();
        assert_eq!(c.sip.udp_recv_buffer, 16 << 20);
        let c = parse("[sip]\nudp_recv_buffer = 65536\n").unwrap();
        assert_eq!(c.sip.udp_recv_buffer, 65_536);
        let err = parse("[sip]\nudp_recv_buffer = \"4MB\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config/qonyrau.toml:2: sip.udp_recv_buffer = \"4MB\": must be a size from 4KiB to 1GiB (bytes, or e.g. \"512KiB\", \"4MiB\")"
        );
        let err = parse("[sip]\n\nudp_recv_buffer = 100\n").unwrap_err();
        assert_eq!(err.errors[0].line, 3, "{err}");
        assert!(
            err.to_string().contains("sip.udp_recv_buffer = 100:"),
            "{err}"
        );
    }

    #[test]
    fn a_single_listen_address_is_still_one_string() {
        let c = parse("[sip]\nudp = \"[::1]:5070\"\ntcp = \"\"\n").unwrap();
        assert_eq!(c.sip.udp, ["[::1]:5070".parse::<SocketAddr>().unwrap()]);
        assert!(c.sip.tcp.is_empty());
    }

    #[test]
    fn sip_listens_on_a_list_of_addresses_ipv4_and_ipv6_at_once() {
        let c =
            parse("[sip]\nudp = [\"127.0.0.1:5060\", \"[::1]:5060\"]\ntcp = [\"[::1]:5061\"]\n")
                .unwrap();
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:5060".parse().unwrap(),
            "[::1]:5060".parse().unwrap(),
        ];
        assert_eq!(c.sip.udp, want);
        assert_eq!(c.sip.tcp, ["[::1]:5061".parse::<SocketAddr>().unwrap()]);
        let c = parse("[sip]\nudp = []\n").unwrap();
        assert!(c.sip.udp.is_empty());
    }

    #[test]
    fn a_bad_listen_address_names_the_key_its_index_and_the_line() {
        let err =
            parse("[sip]\nudp = [\"127.0.0.1:5060\", \"::1:5060\"]\ntcp = [\"127.0.0.1:5060\", \"127.0.0.1:5060\"]\n")
                .unwrap_err();
        let lines: Vec<String> = err.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "config/qonyrau.toml:2: sip.udp[1] = \"::1:5060\": must be an IP address and port, e.g. \"127.0.0.1:5060\" or \"[::1]:5060\"",
                "config/qonyrau.toml:3: sip.tcp[1] = \"127.0.0.1:5060\": listed twice",
            ]
        );
        let err = parse("[sip]\nudp = 5060\n").unwrap_err();
        assert_eq!(err.errors[0].line, 2, "{err}");
        assert!(err.to_string().contains("like \"127.0.0.1:5060\""), "{err}");
    }

    #[test]
    fn both_sip_transports_off_is_refused() {
        let err = parse("[sip]\nudp = \"\"\ntcp = \"\"\n").unwrap_err();
        assert!(err
            .to_string()
            .contains("at least one of sip.udp and sip.tcp"));
    }
}
