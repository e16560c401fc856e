//! `[trunks.<name>]`: outbound SIP trunks to a carrier (none by default), the raw (serde)
//! form and its validation into [`TrunkConfig`]. Every problem names the key and its line,
//! or the table's line for a required key left out. The password never reaches a message
//! nor `Debug`; it may come from `QONYRAU_TRUNK_<NAME>_PASSWORD`, which wins over the file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

use super::{spanned, Validator};
use crate::sip::uac::Transport;
use crate::sip::uri::{host_ip, SipUri};
use crate::trunk::{DialFormat, NumberPlan, E164_MAX_DIGITS};

/// One `[trunks.<name>]`: where the carrier is, how we authenticate to it, which number we
/// present, and how numbers are written for it.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkConfig {
    /// The table key.
    pub name: String,
    /// The carrier's gateway or proxy, as written (`sip:127.0.0.1:5080`)…
    pub proxy_uri: String,
    /// …and where INVITEs go (port 5060 when the URI names none).
    pub proxy: SocketAddr,
    pub transport: Transport,
    /// Digest credentials for the carrier's 401/407; both empty: no authentication.
    pub username: String,
    /// From `QONYRAU_TRUNK_<NAME>_PASSWORD` when set, else the file. Never shown.
    pub password: String,
    /// The number we present, E.164 (`+77172000000`).
    pub caller_id: String,
    /// Simultaneous calls the carrier allows (see [`crate::trunk::CallLimit`]).
    pub max_calls: u32,
    pub plan: NumberPlan,
    /// How the Request-URI and To of our INVITE write the number dialled.
    pub dial_format: DialFormat,
    /// Sources whose inbound calls are this trunk's (the proxy's address by default);
    /// IPv4 addresses are kept as such, never IPv4-mapped IPv6.
    pub accept_from: Vec<IpAddr>,
    /// Answer challenges of this realm only; `None`: any.
    pub realm: Option<String>,
}

impl TrunkConfig {
    /// The environment variable whose value, when set and not empty, is the password of
    /// trunk `name`: `QONYRAU_TRUNK_CARRIER_PASSWORD` for `carrier`, `-` read as `_`.
    pub fn password_env(name: &str) -> String {
        let name: String = name
            .chars()
            .map(|c| match c {
                '-' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        format!("QONYRAU_TRUNK_{name}_PASSWORD")
    }

    /// A call from `addr` came in through this trunk (`::ffff:a.b.c.d` is `a.b.c.d`).
    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        self.accept_from.contains(&addr.to_canonical())
    }

    /// Username and password to answer a 401/407 with; `None` when the trunk does not
    /// authenticate.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        (!self.username.is_empty()).then_some((self.username.as_str(), self.password.as_str()))
    }

    /// Whether a challenge of `realm` is answered (with `realm` unset, any is).
    pub fn answers_realm(&self, realm: &str) -> bool {
        self.realm.as_deref().is_none_or(|r| r == realm)
    }
}

impl fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() { "" } else { "***" };
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("proxy_uri", &self.proxy_uri)
            .field("proxy", &self.proxy)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &password)
            .field("caller_id", &self.caller_id)
            .field("max_calls", &self.max_calls)
            .field("plan", &self.plan)
            .field("dial_format", &self.dial_format)
            .field("accept_from", &self.accept_from)
            .field("realm", &self.realm)
            .finish()
    }
}

const PROXY_RULE: &str =
    "must be a SIP URI of an IP address and optional port, e.g. \"sip:127.0.0.1:5080\" or \"sip:[::1]:5080\"";
const NAME_RULE: &str =
    "a trunk name is letters, digits, - and _ (it names the environment variable of its password)";

impl Validator<'_> {
    /// The trunks in file order; an address in two trunks' `accept_from` is refused on the
    /// later (an inbound call must belong to one trunk).
    pub(super) fn trunks(
        &mut self,
        raw: &BTreeMap<String, Spanned<RawTrunk>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<TrunkConfig> {
        let mut in_order: Vec<(&String, &Spanned<RawTrunk>)> = raw.iter().collect();
        in_order.sort_by_key(|(_, t)| t.span().start);
        let mut owners: BTreeMap<IpAddr, &str> = BTreeMap::new();
        let mut trunks = Vec::with_capacity(in_order.len());
        for (name, table) in in_order {
            let errors_before = self.errors.len();
            let trunk = self.trunk(name, table, env);
            // A refused proxy leaves a stand-in address: no clash is claimed on it.
            let checked = self.errors.len() == errors_before;
            for ip in trunk.accept_from.iter().filter(|_| checked) {
                if let Some(other) = owners.get(ip) {
                    let line = self.line_in(table.get_ref().accept_from.as_ref(), table);
                    self.error_at(
                        line,
                        format!(
                            "trunks.{}.accept_from: {ip} is already trunk \"{other}\"'s (an inbound call belongs to one trunk; set accept_from on one of them)",
                            key_part(name)
                        ),
                    );
                } else {
                    owners.insert(*ip, name);
                }
            }
            trunks.push(trunk);
        }
        trunks
    }

    /// The line of `key`, or of its table when the key was left out.
    fn line_in<T>(&self, key: Option<&Spanned<T>>, table: &Spanned<RawTrunk>) -> usize {
        match key {
            Some(key) if !key.span().is_empty() => self.line(key),
            _ => self.line(table),
        }
    }

    fn trunk(
        &mut self,
        name: &str,
        table: &Spanned<RawTrunk>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> TrunkConfig {
        let raw = table.get_ref();
        let table_key = format!("trunks.{}", key_part(name));
        let key = |field: &str| format!("{table_key}.{field}");
        if !is_bare(name) {
            let line = self.line(table);
            self.error_at(line, format!("{table_key}: {NAME_RULE}"));
        }

        let (proxy_uri, proxy) = match &raw.proxy {
            None => {
                let line = self.line(table);
                self.error_at(
                    line,
                    format!(
                        "{}: must be set: the carrier's gateway or proxy, e.g. \"sip:127.0.0.1:5080\"",
                        key("proxy")
                    ),
                );
                (String::new(), SocketAddr::from(([127, 0, 0, 1], 5060)))
            }
            Some(uri) => {
                let text = uri.get_ref();
                let addr = proxy_addr(text).unwrap_or_else(|rule| {
                    self.error(uri, format!("{} = \"{text}\": {rule}", key("proxy")));
                    SocketAddr::from(([127, 0, 0, 1], 5060))
                });
                (text.clone(), addr)
            }
        };

        let transport = match raw.transport.get_ref().as_str() {
            "udp" => Transport::Udp,
            // We open no outbound TCP connections yet: a TCP trunk could not be dialled.
            "tcp" => {
                self.error(
                    &raw.transport,
                    format!(
                        "{} = \"tcp\": not supported yet (outbound calls go over UDP); use udp",
                        key("transport")
                    ),
                );
                Transport::Udp
            }
            other => {
                self.error(
                    &raw.transport,
                    format!(
                        "{} = \"{other}\": must be one of udp, tcp",
                        key("transport")
                    ),
                );
                Transport::Udp
            }
        };

        let username = raw.username.get_ref().clone();
        if username.contains(['"', '\\', '\r', '\n']) {
            self.error(
                &raw.username,
                format!(
                    "{} = \"{}\": must not hold quotes, backslashes or line breaks",
                    key("username"),
                    username.escape_debug()
                ),
            );
        }
        let variable = TrunkConfig::password_env(name);
        let from_env = env(&variable).filter(|p| !p.is_empty());
        let password = from_env
            .clone()
            .unwrap_or_else(|| raw.password.get_ref().clone());
        if !username.is_empty() && password.is_empty() {
            self.error(
                &raw.username,
                format!(
                    "{} = \"{username}\": there is no password (set {} or the environment variable {variable})",
                    key("username"),
                    key("password")
                ),
            );
        } else if username.is_empty() && !password.is_empty() {
            // The password itself is never shown.
            let message = if from_env.is_some() {
                format!(
                    "{table_key}: {variable} is set but {} is empty; the carrier needs both",
                    key("username")
                )
            } else {
                format!(
                    "{}: set but {} is empty; the carrier needs both",
                    key("password"),
                    key("username")
                )
            };
            if from_env.is_some() {
                let line = self.line(table);
                self.error_at(line, message);
            } else {
                self.error(&raw.password, message);
            }
        }

        let caller_id = match &raw.caller_id {
            None => {
                let line = self.line(table);
                self.error_at(
                    line,
                    format!(
                        "{}: must be set: the number we present, in E.164, e.g. \"+77172000000\"",
                        key("caller_id")
                    ),
                );
                String::new()
            }
            Some(id) => {
                let text = id.get_ref();
                if !is_e164(text) {
                    self.error(
                        id,
                        format!(
                            "{} = \"{text}\": must be E.164: + and 5 to {E164_MAX_DIGITS} digits, the first not 0, e.g. \"+77172000000\"",
                            key("caller_id")
                        ),
                    );
                }
                text.clone()
            }
        };

        let max_calls = self.range(&key("max_calls"), &raw.max_calls, 1..=1000) as u32;

        let country_code = raw.country_code.get_ref();
        let cc_ok = (1..=3).contains(&country_code.len())
            && country_code.bytes().all(|b| b.is_ascii_digit())
            && !country_code.starts_with('0');
        if !cc_ok {
            self.error(
                &raw.country_code,
                format!(
                    "{} = \"{country_code}\": must be 1 to 3 digits, the first not 0 (\"7\" for Kazakhstan)",
                    key("country_code")
                ),
            );
        }
        let prefix = raw.national_prefix.get_ref();
        if prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            self.error(
                &raw.national_prefix,
                format!(
                    "{} = \"{prefix}\": must be up to 3 digits (\"8\" for Kazakhstan, \"\" for none)",
                    key("national_prefix")
                ),
            );
        }
        let plan = NumberPlan {
            country_code: country_code.clone(),
            national_prefix: prefix.clone(),
        };

        let dial_format = DialFormat::from_name(raw.dial_format.get_ref()).unwrap_or_else(|| {
            self.error(
                &raw.dial_format,
                format!(
                    "{} = \"{}\": must be one of e164, national",
                    key("dial_format"),
                    raw.dial_format.get_ref()
                ),
            );
            DialFormat::default()
        });

        let accept_from = match &raw.accept_from {
            None => vec![proxy.ip().to_canonical()],
            Some(list) => {
                let mut out: Vec<IpAddr> = Vec::with_capacity(list.get_ref().len());
                for (i, text) in list.get_ref().iter().enumerate() {
                    let at = format!("{}[{i}]", key("accept_from"));
                    match text.get_ref().parse::<IpAddr>().map(|a| a.to_canonical()) {
                        Ok(a) if out.contains(&a) => {
                            self.error(text, format!("{at} = \"{}\": listed twice", text.get_ref()))
                        }
                        Ok(a) => out.push(a),
                        Err(_) => self.error(
                            text,
                            format!(
                                "{at} = \"{}\": must be an IP address (names are not looked up)",
                                text.get_ref()
                            ),
                        ),
                    }
                }
                if list.get_ref().is_empty() {
                    self.warning(
                        list,
                        format!(
                            "{} = []: no source is trusted, so no inbound call is this trunk's",
                            key("accept_from")
                        ),
                    );
                }
                out
            }
        };

        let realm = raw.realm.get_ref();
        if realm.contains(['"', '\\', '\r', '\n']) {
            self.error(
                &raw.realm,
                format!(
                    "{} = \"{}\": must not hold quotes, backslashes or line breaks",
                    key("realm"),
                    realm.escape_debug()
                ),
            );
        }

        TrunkConfig {
            name: name.to_string(),
            proxy_uri,
            proxy,
            transport,
            username,
            password,
            caller_id,
            max_calls,
            plan,
            dial_format,
            accept_from,
            realm: (!realm.is_empty()).then(|| realm.clone()),
        }
    }
}

/// `sip:` host `[:port]`, the host an IP literal (IPv6 in brackets); no user, parameters
/// or headers (what the trunk needs is its own keys).
fn proxy_addr(text: &str) -> Result<SocketAddr, String> {
    let uri = SipUri::parse(text).ok_or_else(|| PROXY_RULE.to_string())?;
    if uri.scheme != "sip" {
        return Err(format!("{PROXY_RULE} (sips: is not supported)"));
    }
    if uri.user.is_some() || !uri.params.is_empty() || text.contains(['?', ';', '@']) {
        return Err(format!(
            "{PROXY_RULE}, without user, parameters or headers (transport is its own key)"
        ));
    }
    let ip = host_ip(&uri.host).ok_or_else(|| {
        format!("{PROXY_RULE}: the host must be an IP address, names are not looked up")
    })?;
    if ip.is_ipv6() && !uri.host.starts_with('[') {
        return Err(format!("{PROXY_RULE}: an IPv6 address goes in brackets"));
    }
    if uri.port == Some(0) {
        return Err(format!("{PROXY_RULE}: port 0 is not a port"));
    }
    uri.socket_addr().ok_or_else(|| PROXY_RULE.to_string())
}

/// A table key as written in TOML: bare when it can be, else quoted (`trunks."a b"`).
fn key_part(key: &str) -> String {
    if is_bare(key) {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `+` and 5 to 15 digits, the first not 0.
fn is_e164(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|d| {
        (5..=E164_MAX_DIGITS).contains(&d.len())
            && d.bytes().all(|b| b.is_ascii_digit())
            && !d.starts_with('0')
    })
}

// ---- raw (serde) form, with the defaults ----

/// One `[trunks.<name>]`; `proxy` and `caller_id` have no default.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTrunk {
    proxy: Option<Spanned<String>>,
    transport: Spanned<String>,
    username: Spanned<String>,
    password: Spanned<String>,
    caller_id: Option<Spanned<String>>,
    max_calls: Spanned<i64>,
    country_code: Spanned<String>,
    national_prefix: Spanned<String>,
    dial_format: Spanned<String>,
    /// Left out: the proxy's address.
    accept_from: Option<Spanned<Vec<Spanned<String>>>>,
    realm: Spanned<String>,
}

impl Default for RawTrunk {
    fn default() -> Self {
        let plan = NumberPlan::default();
        RawTrunk {
            proxy: None,
            transport: spanned("udp".into()),
            username: spanned(String::new()),
            password: spanned(String::new()),
            caller_id: None,
            max_calls: spanned(10),
            country_code: spanned(plan.country_code),
            national_prefix: spanned(plan.national_prefix),
            dial_format: spanned(DialFormat::default().name().into()),
            accept_from: None,
            realm: spanned(String::new()),
        }
    }
}

/// Every key set, as the bundled file's commented-out `[trunks.carrier]` shows them: what
/// the test that every key is documented walks (the file has no trunk by default).
#[cfg(test)]
pub(super) fn documented_example() -> RawTrunk {
    RawTrunk {
        proxy: Some(spanned("sip:127.0.0.1:5080".into())),
        caller_id: Some(spanned("+77172000000".into())),
        accept_from: Some(spanned(vec![spanned("127.0.0.1".into())])),
        ..RawTrunk::default()
    }
}

#[cfg(test)]
#[path = "trunk_tests.rs"]
mod tests;
