use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use super::*;
use crate::config::{Config, ConfigErrors, DEFAULT_PATH};

const PATH: &str = "config/qonyrau.toml";

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_env(text, &[])
}

/// With `vars` as the whole environment.
fn parse_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let env = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    Config::parse_with_env(Path::new(PATH), text, &env)
}

fn lines(err: ConfigErrors) -> Vec<String> {
    err.errors.iter().map(ToString::to_string).collect()
}

/// The one trunk of a file.
fn trunk(text: &str) -> TrunkConfig {
    let mut trunks = parse(text).unwrap().trunks;
    assert_eq!(trunks.len(), 1);
    trunks.remove(0)
}

/// The one error of a file with a good `[trunks.carrier]` plus `extra` lines in it.
fn error_with(extra: &str) -> String {
    let text = format!(
        "[trunks.carrier]\nproxy = \"sip:127.0.0.1:5080\"\ncaller_id = \"+77172000000\"\n{extra}\n"
    );
    let errors = lines(parse(&text).unwrap_err());
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

const MINIMAL: &str =
    "[trunks.carrier]\nproxy = \"sip:127.0.0.1:5080\"\ncaller_id = \"+77172000000\"\n";

#[test]
fn there_is_no_trunk_by_default_nor_in_the_bundled_file() {
    assert!(Config::default().trunks.is_empty());
    assert!(parse("").unwrap().trunks.is_empty());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
    assert!(Config::load(&path).unwrap().trunks.is_empty());
}

#[test]
fn a_trunk_with_proxy_and_caller_id_takes_the_defaults() {
    let t = trunk(MINIMAL);
    assert_eq!(
        t,
        TrunkConfig {
            name: "carrier".into(),
            proxy_uri: "sip:127.0.0.1:5080".into(),
            proxy: "127.0.0.1:5080".parse().unwrap(),
            transport: Transport::Udp,
            username: String::new(),
            password: String::new(),
            caller_id: "+77172000000".into(),
            max_calls: 10,
            plan: NumberPlan {
                country_code: "7".into(),
                national_prefix: "8".into(),
            },
            dial_format: DialFormat::E164,
            accept_from: vec!["127.0.0.1".parse().unwrap()],
            realm: None,
        }
    );
    assert_eq!(t.credentials(), None);
    assert!(parse(MINIMAL).unwrap().warnings.is_empty());
}

#[test]
fn every_trunk_key_is_read() {
    let text = "[trunks.kaztel]\nproxy = \"sip:[2001:db8::1]\"\ntransport = \"udp\"\nusername = \"qonyrau\"\npassword = \"s3cret\"\ncaller_id = \"+77172000000\"\nmax_calls = 1000\ncountry_code = \"44\"\nnational_prefix = \"0\"\ndial_format = \"national\"\naccept_from = [\"192.0.2.1\", \"2001:db8::2\"]\nrealm = \"carrier.example\"\n";
    let t = trunk(text);
    assert_eq!(t.name, "kaztel");
    assert_eq!(t.proxy, "[2001:db8::1]:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(t.proxy_uri, "sip:[2001:db8::1]");
    assert_eq!(t.transport, Transport::Udp);
    assert_eq!(t.credentials(), Some(("qonyrau", "s3cret")));
    assert_eq!(t.max_calls, 1000);
    assert_eq!(
        t.plan,
        NumberPlan {
            country_code: "44".into(),
            national_prefix: "0".into()
        }
    );
    assert_eq!(t.dial_format, DialFormat::National);
    let want: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::2".parse().unwrap()];
    assert_eq!(t.accept_from, want);
    assert_eq!(t.realm.as_deref(), Some("carrier.example"));
}

#[test]
fn trunks_keep_the_order_of_the_file() {
    let text = "[trunks.zeta]\nproxy = \"sip:192.0.2.1\"\ncaller_id = \"+77172000000\"\n[trunks.alpha]\nproxy = \"sip:192.0.2.2\"\ncaller_id = \"+77172000001\"\n";
    let names: Vec<String> = parse(text)
        .unwrap()
        .trunks
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["zeta", "alpha"]);
}

#[test]
fn the_proxy_is_required_and_an_ip_literal_sip_uri() {
    let err = lines(parse("\n[trunks.carrier]\ncaller_id = \"+77172000000\"\n").unwrap_err());
    assert_eq!(
        err,
        ["config/qonyrau.toml:2: trunks.carrier.proxy: must be set: the carrier's gateway or proxy, e.g. \"sip:127.0.0.1:5080\""]
    );
}

#[test]
fn a_bad_proxy_names_its_line_and_the_rule() {
    let rule = "must be a SIP URI of an IP address and optional port, e.g. \"sip:127.0.0.1:5080\" or \"sip:[::1]:5080\"";
    let cases = [
        ("127.0.0.1:5080", rule.to_string()),
        ("sip:", rule.to_string()),
        ("sip:127.0.0.1:99999", rule.to_string()),
        ("sips:127.0.0.1", format!("{rule} (sips: is not supported)")),
        (
            "sip:gw@127.0.0.1",
            format!("{rule}, without user, parameters or headers (transport is its own key)"),
        ),
        (
            "sip:127.0.0.1;transport=tcp",
            format!("{rule}, without user, parameters or headers (transport is its own key)"),
        ),
        (
            "sip:carrier.example:5060",
            format!("{rule}: the host must be an IP address, names are not looked up"),
        ),
        (
            "sip:::1",
            format!("{rule}: an IPv6 address goes in brackets"),
        ),
        ("sip:127.0.0.1:0", format!("{rule}: port 0 is not a port")),
    ];
    for (uri, why) in cases {
        let text = format!("[trunks.carrier]\ncaller_id = \"+77172000000\"\nproxy = \"{uri}\"\n");
        assert_eq!(
            lines(parse(&text).unwrap_err()),
            [format!(
                "config/qonyrau.toml:3: trunks.carrier.proxy = \"{uri}\": {why}"
            )],
            "{uri}"
        );
    }
}

#[test]
fn good_proxies_default_to_port_5060() {
    for (uri, addr) in [
        ("sip:127.0.0.1", "127.0.0.1:5060"),
        ("sip:10.0.0.1:5080", "10.0.0.1:5080"),
        ("SIP:10.0.0.1:5080", "10.0.0.1:5080"),
        ("sip:[::1]", "[::1]:5060"),
        ("sip:[::1]:5070", "[::1]:5070"),
    ] {
        let t = trunk(&format!(
            "[trunks.c]\nproxy = \"{uri}\"\ncaller_id = \"+77172000000\"\n"
        ));
        assert_eq!(t.proxy, addr.parse::<SocketAddr>().unwrap(), "{uri}");
        assert_eq!(t.proxy_uri, uri);
    }
}

#[test]
fn transport_is_udp_and_tcp_is_not_supported_yet() {
    assert_eq!(
        trunk(&format!("{MINIMAL}transport = \"udp\"\n")).transport,
        Transport::Udp
    );
    assert_eq!(
        error_with("transport = \"tcp\""),
        "config/qonyrau.toml:4: trunks.carrier.transport = \"tcp\": not supported yet (outbound calls go over UDP); use udp"
    );
    assert_eq!(
        error_with("transport = \"tls\""),
        "config/qonyrau.toml:4: trunks.carrier.transport = \"tls\": must be one of udp, tcp"
    );
    assert_eq!(
        error_with("transport = \"UDP\""),
        "config/qonyrau.toml:4: trunks.carrier.transport = \"UDP\": must be one of udp, tcp"
    );
}

#[test]
fn caller_id_is_required_and_e164() {
    let err = lines(parse("[trunks.carrier]\nproxy = \"sip:127.0.0.1\"\n").unwrap_err());
    assert_eq!(
        err,
        ["config/qonyrau.toml:1: trunks.carrier.caller_id: must be set: the number we present, in E.164, e.g. \"+77172000000\""]
    );
    for bad in [
        "87172000000",
        "77172000000",
        "+7 717 200 00 00",
        "+0717200",
        "+7717",
        "+7717200000000000",
        "+7717x000000",
        "",
    ] {
        let text = format!("[trunks.carrier]\nproxy = \"sip:127.0.0.1\"\ncaller_id = \"{bad}\"\n");
        assert_eq!(
            lines(parse(&text).unwrap_err()),
            [format!("config/qonyrau.toml:3: trunks.carrier.caller_id = \"{bad}\": must be E.164: + and 5 to 15 digits, the first not 0, e.g. \"+77172000000\"")],
            "{bad}"
        );
    }
    for good in ["+77172000000", "+12025550123", "+44207", "+123456789012345"] {
        let text = format!("[trunks.carrier]\nproxy = \"sip:127.0.0.1\"\ncaller_id = \"{good}\"\n");
        assert_eq!(trunk(&text).caller_id, good);
    }
}

#[test]
fn max_calls_is_1_to_1000() {
    assert_eq!(trunk(&format!("{MINIMAL}max_calls = 1\n")).max_calls, 1);
    assert_eq!(
        trunk(&format!("{MINIMAL}max_calls = 1000\n")).max_calls,
        1000
    );
    for bad in [0, 1001, -1] {
        assert_eq!(
            error_with(&format!("max_calls = {bad}")),
            format!(
                "config/qonyrau.toml:4: trunks.carrier.max_calls = {bad}: must be from 1 to 1000"
            )
        );
    }
}

#[test]
fn country_code_and_national_prefix_are_short_digit_strings() {
    for bad in ["", "0", "07", "1234", "+7", "kz"] {
        assert_eq!(
            error_with(&format!("country_code = \"{bad}\"")),
            format!("config/qonyrau.toml:4: trunks.carrier.country_code = \"{bad}\": must be 1 to 3 digits, the first not 0 (\"7\" for Kazakhstan)")
        );
    }
    for bad in ["8x", "0000", "+8"] {
        assert_eq!(
            error_with(&format!("national_prefix = \"{bad}\"")),
            format!("config/qonyrau.toml:4: trunks.carrier.national_prefix = \"{bad}\": must be up to 3 digits (\"8\" for Kazakhstan, \"\" for none)")
        );
    }
    let t = trunk(&format!(
        "{MINIMAL}country_code = \"998\"\nnational_prefix = \"\"\n"
    ));
    assert_eq!(t.plan.country_code, "998");
    assert_eq!(t.plan.national_prefix, "");
    // A number, not a string, is refused by the parser with the line.
    let err = parse(&format!("{MINIMAL}country_code = 7\n")).unwrap_err();
    assert_eq!(err.errors[0].line, 4, "{err}");
}

#[test]
fn dial_format_is_e164_or_national() {
    assert_eq!(
        trunk(&format!("{MINIMAL}dial_format = \"national\"\n")).dial_format,
        DialFormat::National
    );
    assert_eq!(
        trunk(&format!("{MINIMAL}dial_format = \"e164\"\n")).dial_format,
        DialFormat::E164
    );
    assert_eq!(
        error_with("dial_format = \"E.164\""),
        "config/qonyrau.toml:4: trunks.carrier.dial_format = \"E.164\": must be one of e164, national"
    );
}

#[test]
fn accept_from_defaults_to_the_proxy_and_takes_ip_addresses() {
    let t = trunk(MINIMAL);
    assert!(t.is_trusted("127.0.0.1".parse().unwrap()));
    assert!(t.is_trusted("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!t.is_trusted("127.0.0.2".parse().unwrap()));
    assert!(!t.is_trusted("::1".parse().unwrap()));

    let t = trunk(&format!(
        "{MINIMAL}accept_from = [\"192.0.2.7\", \"::ffff:192.0.2.8\", \"2001:db8::5\"]\n"
    ));
    assert!(
        !t.is_trusted("127.0.0.1".parse().unwrap()),
        "the list replaces the proxy"
    );
    assert!(t.is_trusted("192.0.2.7".parse().unwrap()));
    assert!(
        t.is_trusted("192.0.2.8".parse().unwrap()),
        "mapped is kept as IPv4"
    );
    assert!(t.is_trusted("2001:db8::5".parse().unwrap()));

    let t = trunk(
        "[trunks.v6]\nproxy = \"sip:[::ffff:10.0.0.1]:5080\"\ncaller_id = \"+77172000000\"\n",
    );
    assert_eq!(t.accept_from, ["10.0.0.1".parse::<IpAddr>().unwrap()]);

    assert_eq!(
        error_with("accept_from = [\"192.0.2.7\", \"gw.carrier.example\"]"),
        "config/qonyrau.toml:4: trunks.carrier.accept_from[1] = \"gw.carrier.example\": must be an IP address (names are not looked up)"
    );
    assert_eq!(
        error_with("accept_from = [\"192.0.2.7\", \"::ffff:192.0.2.7\"]"),
        "config/qonyrau.toml:4: trunks.carrier.accept_from[1] = \"::ffff:192.0.2.7\": listed twice"
    );
}

#[test]
fn an_empty_accept_from_trusts_nobody_with_a_warning() {
    let c = parse(&format!("{MINIMAL}accept_from = []\n")).unwrap();
    assert!(!c.trunks[0].is_trusted("127.0.0.1".parse().unwrap()));
    let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["config/qonyrau.toml:4: trunks.carrier.accept_from = []: no source is trusted, so no inbound call is this trunk's"]
    );
}

#[test]
fn an_address_belongs_to_one_trunk() {
    let text = "[trunks.a]\nproxy = \"sip:192.0.2.1\"\ncaller_id = \"+77172000000\"\n\n[trunks.b]\nproxy = \"sip:192.0.2.1:5080\"\ncaller_id = \"+77172000001\"\n";
    assert_eq!(
        lines(parse(text).unwrap_err()),
        ["config/qonyrau.toml:5: trunks.b.accept_from: 192.0.2.1 is already trunk \"a\"'s (an inbound call belongs to one trunk; set accept_from on one of them)"]
    );
    let fixed = text.replace(
        "caller_id = \"+77172000001\"\n",
        "caller_id = \"+77172000001\"\naccept_from = []\n",
    );
    assert_eq!(parse(&fixed).unwrap().trunks.len(), 2);
}

#[test]
fn two_refused_proxies_are_not_also_a_clash() {
    let text = "[trunks.a]\ncaller_id = \"+77172000000\"\n[trunks.b]\nproxy = \"sip:gw.example\"\ncaller_id = \"+77172000001\"\n";
    let err = lines(parse(text).unwrap_err());
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(err.iter().all(|e| e.contains(".proxy")), "{err:?}");
}

#[test]
fn a_trunk_name_is_letters_digits_dash_and_underscore() {
    let t = trunk("[trunks.kaz-tel_2]\nproxy = \"sip:127.0.0.1\"\ncaller_id = \"+77172000000\"\n");
    assert_eq!(t.name, "kaz-tel_2");
    let err = lines(
        parse("[trunks.\"kaz tel\"]\nproxy = \"sip:127.0.0.1\"\ncaller_id = \"+77172000000\"\n")
            .unwrap_err(),
    );
    assert_eq!(
        err,
        ["config/qonyrau.toml:1: trunks.\"kaz tel\": a trunk name is letters, digits, - and _ (it names the environment variable of its password)"]
    );
}

#[test]
fn unknown_trunk_keys_are_refused_with_their_line() {
    let err = parse(&format!("{MINIMAL}pasword = \"x\"\n")).unwrap_err();
    assert_eq!(err.errors[0].line, 4, "{err}");
    assert!(err.to_string().contains("pasword"), "{err}");
}

#[test]
fn credentials_need_both_username_and_password() {
    let t = trunk(&format!("{MINIMAL}username = \"u\"\npassword = \"p\"\n"));
    assert_eq!(t.credentials(), Some(("u", "p")));
    assert_eq!(
        error_with("username = \"u\""),
        "config/qonyrau.toml:4: trunks.carrier.username = \"u\": there is no password (set trunks.carrier.password or the environment variable QONYRAU_TRUNK_CARRIER_PASSWORD)"
    );
    let err = error_with("password = \"hunter2\"");
    assert_eq!(
        err,
        "config/qonyrau.toml:4: trunks.carrier.password: set but trunks.carrier.username is empty; the carrier needs both"
    );
    assert!(!err.contains("hunter2"));
    assert_eq!(
        error_with("username = \"a\\\"b\"\npassword = \"p\""),
        "config/qonyrau.toml:4: trunks.carrier.username = \"a\\\"b\": must not hold quotes, backslashes or line breaks"
    );
}

#[test]
fn the_password_from_the_environment_wins() {
    let text = format!("{MINIMAL}username = \"u\"\npassword = \"from-file\"\n");
    let env = [("QONYRAU_TRUNK_CARRIER_PASSWORD", "from-env")];
    let t = parse_env(&text, &env).unwrap().trunks.remove(0);
    assert_eq!(t.credentials(), Some(("u", "from-env")));
    // The environment alone is enough.
    let text = format!("{MINIMAL}username = \"u\"\n");
    let t = parse_env(&text, &env).unwrap().trunks.remove(0);
    assert_eq!(t.password, "from-env");
    // Set but empty is as if unset.
    let err = lines(parse_env(&text, &[("QONYRAU_TRUNK_CARRIER_PASSWORD", "")]).unwrap_err());
    assert_eq!(err.len(), 1, "{err:?}");
    // Another trunk's variable is not this one's.
    assert!(parse_env(&text, &[("QONYRAU_TRUNK_OTHER_PASSWORD", "x")]).is_err());
    // Without a username, the variable alone is refused without showing it.
    let err = lines(parse_env(MINIMAL, &env).unwrap_err());
    assert_eq!(
        err,
        ["config/qonyrau.toml:1: trunks.carrier: QONYRAU_TRUNK_CARRIER_PASSWORD is set but trunks.carrier.username is empty; the carrier needs both"]
    );
}

#[test]
fn the_password_variable_is_named_after_the_trunk_upper_cased() {
    assert_eq!(
        TrunkConfig::password_env("carrier"),
        "QONYRAU_TRUNK_CARRIER_PASSWORD"
    );
    assert_eq!(
        TrunkConfig::password_env("kaz-tel_2"),
        "QONYRAU_TRUNK_KAZ_TEL_2_PASSWORD"
    );
    let text = "[trunks.kaz-tel]\nproxy = \"sip:127.0.0.1\"\ncaller_id = \"+77172000000\"\nusername = \"u\"\n";
    let c = parse_env(text, &[("QONYRAU_TRUNK_KAZ_TEL_PASSWORD", "p")]).unwrap();
    assert_eq!(c.trunks[0].password, "p");
}

#[test]
fn debug_never_shows_the_password() {
    let text = format!("{MINIMAL}username = \"u\"\npassword = \"hunter2\"\n");
    let t = trunk(&text);
    let shown = format!("{t:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("password: \"***\""), "{shown}");
    assert!(shown.contains("username: \"u\""), "{shown}");
    let whole = format!("{:?}", parse(&text).unwrap());
    assert!(!whole.contains("hunter2"));
    let alternate = format!("{t:#?}");
    assert!(!alternate.contains("hunter2"));
    // No password: nothing to hide, and it says so.
    assert!(format!("{:?}", trunk(MINIMAL)).contains("password: \"\""));
}

#[test]
fn realm_limits_which_challenges_are_answered() {
    let t = trunk(MINIMAL);
    assert!(t.answers_realm("anything"));
    let t = trunk(&format!("{MINIMAL}realm = \"\"\n"));
    assert_eq!(t.realm, None);
    let t = trunk(&format!("{MINIMAL}realm = \"carrier.example\"\n"));
    assert!(t.answers_realm("carrier.example"));
    assert!(!t.answers_realm("evil.example"));
    assert_eq!(
        error_with("realm = \"a\\\\b\""),
        "config/qonyrau.toml:4: trunks.carrier.realm = \"a\\\\b\": must not hold quotes, backslashes or line breaks"
    );
}

#[test]
fn every_problem_of_a_trunk_is_reported_at_once() {
    let text = "[trunks.carrier]\nproxy = \"sip:gw.example\"\ncaller_id = \"8717\"\nmax_calls = 0\ndial_format = \"intl\"\n";
    let err = lines(parse(text).unwrap_err());
    assert_eq!(err.len(), 4, "{err:?}");
    let at: Vec<&str> = err.iter().map(|e| &e[..22]).collect();
    assert_eq!(
        at,
        [
            "config/qonyrau.toml:2:",
            "config/qonyrau.toml:3:",
            "config/qonyrau.toml:4:",
            "config/qonyrau.toml:5:"
        ]
    );
}

#[test]
fn the_documented_example_is_a_valid_trunk() {
    // The bundled file's commented-out [trunks.carrier], uncommented, loads.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH)).unwrap();
    let start = text
        .find("# [trunks.carrier]")
        .expect("the example is there");
    let block: String = text[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim_start())
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let t = trunk(&block);
    assert_eq!(t.proxy, "127.0.0.1:5080".parse::<SocketAddr>().unwrap());
    assert_eq!(t.caller_id, "+77172000000");
    assert_eq!(t.max_calls, 10);
    assert_eq!(t.credentials(), None);
}

#[test]
fn a_trunks_addresses_are_trusted_sources_for_the_invite_rate_limit() {
    let text = "[sip]\ntrusted = [\"10.0.0.5\"]\n[trunks.carrier]\nproxy = \"sip:192.0.2.7:5080\"\ncaller_id = \"+77172000000\"\n[trunks.backup]\nproxy = \"sip:192.0.2.8\"\ncaller_id = \"+77172000000\"\naccept_from = [\"192.0.2.9\"]\n";
    let c = Config::parse(Path::new("config/qonyrau.toml"), text).unwrap();
    let mut trusted: Vec<String> = c
        .sip
        .invite_rate
        .trusted
        .iter()
        .map(ToString::to_string)
        .collect();
    trusted.sort();
    assert_eq!(trusted, ["10.0.0.5", "192.0.2.7", "192.0.2.9"]);
}
