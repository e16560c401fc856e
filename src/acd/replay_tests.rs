//! Replay: parsing, output lines, errors naming the line, warnings.

use super::*;

fn run(trace: &str) -> (Result<ReplayStats, ReplayError>, Vec<serde_json::Value>) {
    let mut out = Vec::new();
    let res = replay(trace.as_bytes(), &mut out);
    let lines = String::from_utf8(out)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON output line"))
        .collect();
    (res, lines)
}

#[test]
fn positions_and_estimates() {
    let trace = r#"{"t":0.0,"ev":"login","agent":"a1"}
{"t":1.0,"ev":"enter","caller":"c1"}
{"t":1.0,"ev":"answer","caller":"c1","agent":"a1"}

{"t":2.0,"ev":"enter","caller":"c2","queue":"sales"}
{"t":3.5,"ev":"enter","caller":"c3"}
{"t":4.0,"ev":"abandon","caller":"c2"}
{"t":5.0,"ev":"enter","caller":"c4"}
{"t":101.0,"ev":"hangup","agent":"a1"}
{"t":111.0,"ev":"ready","agent":"a1"}
{"t":111.0,"ev":"answer","caller":"c3","agent":"a1"}
"#;
    let (res, out) = run(trace);
    let stats = res.expect("a valid trace");
    assert_eq!(
        (stats.lines, stats.enters, stats.answers, stats.abandons),
        (11, 4, 2, 1)
    );
    assert_eq!(stats.warning_count, 0);
    let pos: Vec<_> = out
        .iter()
        .map(|o| {
            (
                o["caller"].as_str().unwrap(),
                o["position"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pos, [("c1", 1), ("c2", 1), ("c3", 2), ("c4", 2)]);
    assert_eq!(out[0]["ewt_s"], 0.0); // idle agent
    assert_eq!(out[1]["t"], 2.0);
    // Prior: exponential 180 s talk (median residual 180·ln 2) + 10 s wrap-up.
    let first = out[1]["ewt_s"].as_f64().unwrap();
    assert!((first - 134.8).abs() < 0.2, "{first}");
    assert!(out[2]["ewt_s"].as_f64().unwrap() > first);
}

#[test]
fn no_agent_gives_null() {
    let (res, out) = run(r#"{"t":0,"ev":"enter","caller":"c1"}"#);
    res.expect("valid");
    assert_eq!(out[0]["ewt_s"], serde_json::Value::Null);
}

fn error_of(trace: &str) -> String {
    let (res, _) = run(trace);
    res.expect_err("an error").to_string()
}

#[test]
fn errors_name_the_line() {
    let ok = "{\"t\":1,\"ev\":\"login\",\"agent\":\"a1\"}\n";
    let cases = [
        (
            "{\"t\":2,\"ev\":\"enter\"",
            "line 2: not a JSON event object",
        ),
        ("[1,2]", "line 2: not a JSON event object"),
        (
            "{\"t\":2,\"ev\":\"transfer\",\"agent\":\"a1\"}",
            "line 2: unknown event \"transfer\"",
        ),
        (
            "{\"t\":2,\"agent\":\"a1\"}",
            "line 2: event needs the field \"ev\"",
        ),
        (
            "{\"ev\":\"ready\",\"agent\":\"a1\"}",
            "line 2: ready needs the field \"t\"",
        ),
        (
            "{\"t\":2,\"ev\":\"answer\",\"caller\":\"c1\"}",
            "line 2: answer needs the field \"agent\"",
        ),
        (
            "{\"t\":2,\"ev\":\"enter\",\"caller\":7}",
            "line 2: not a JSON event object",
        ),
        (
            "{\"t\":0.5,\"ev\":\"ready\",\"agent\":\"a1\"}",
            "line 2: time goes backwards (0.5 after 1)",
        ),
        (
            "{\"t\":-3,\"ev\":\"ready\",\"agent\":\"a1\"}",
            "line 2: time -3 is not a finite",
        ),
        (
            "{\"t\":2,\"ev\":\"answer\",\"caller\":\"c9\",\"agent\":\"a1\"}",
            "line 2: answer of caller \"c9\", who is not waiting",
        ),
    ];
    for (bad, want) in cases {
        let msg = error_of(&format!("{ok}{bad}\n{ok}"));
        assert!(msg.starts_with(want), "{bad}: got {msg:?}, want {want:?}…");
    }
}

#[test]
fn warnings_do_not_stop_the_replay() {
    let trace = r#"{"t":0,"ev":"enter","caller":"c1"}
{"t":1,"ev":"enter","caller":"c1"}
{"t":2,"ev":"abandon","caller":"c7"}
{"t":3,"ev":"hangup","agent":"ghost"}
{"t":4,"ev":"answer","caller":"c1","agent":"a9"}
{"t":5,"ev":"enter","caller":"c2"}
"#;
    let (res, out) = run(trace);
    let stats = res.expect("warnings only");
    assert_eq!(stats.warning_count, 4);
    let lines: Vec<_> = stats.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    assert_eq!(
        stats.warnings[3].kind.to_string(),
        "answer by agent \"a9\", never logged in; taken as logged in"
    );
    assert_eq!(out.len(), 2);
    assert!(
        out[1]["ewt_s"].as_f64().is_some(),
        "a9 now counts as an agent"
    );
}

#[test]
fn caller_names_are_escaped() {
    let (res, out) = run("{\"t\":0,\"ev\":\"enter\",\"caller\":\"c\\\"1\\u00e9\"}\n");
    res.expect("valid");
    assert_eq!(out[0]["caller"], "c\"1é");
}
