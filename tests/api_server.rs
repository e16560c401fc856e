//! The service-desk API on the real `qonyrau serve`: accounts made with the CLI, tickets over
//! HTTP, the metrics managers scrape, schemathesis against `/api/openapi.json` (no 5xx, no
//! response that breaks the schema), and a PostgreSQL stopped mid-run (503 with a clear
//! message, nothing half-written, service back when it returns).
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{peer, repo, Server, ServerOpts};
use serde_json::{json, Value};

const PASSWORD: &str = "Qonyrau2026";

fn add_user(server: &Server, login: &str, role: &str) {
    let (ok, out) = server.cli(
        &["users", "add", login, "--role", role, "--language", "en"],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "users add {login}: {out}");
}

async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .timeout(Duration::from_secs(10));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("HTTP request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn token(base: &str, login: &str) -> String {
    let (status, body) = call(
        base,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"login": login, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

fn ticket(n: u32) -> Value {
    json!({
        "type": "incident", "channel": "phone", "subject": format!("Portal login fails #{n}"),
        "description": "", "impact": "high", "urgency": "high", "service_level": "individual",
        "contact": {"name": "Caller", "phone": format!("+7701{n:07}")}
    })
}

fn schemathesis(base: &str, token: Option<&str>, filter: &[&str]) {
    let mut cmd = Command::new("schemathesis");
    // Its example cache goes to the working directory: keep it out of the repository.
    let scratch = tempfile::tempdir().expect("temp dir");
    cmd.current_dir(scratch.path())
        .args(["run", &format!("{base}/api/openapi.json")])
        .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
        .args(["--max-examples", "25", "--generation-deterministic", "--request-timeout", "10"])
        .args(filter)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false");
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.output().expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis {filter:?} found problems:\n{text}"
    );
    assert!(text.contains("passed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_the_real_server_with_metrics_and_schemathesis() {
    let server = Server::start("");
    let base = format!("http://{}", server.http);
    add_user(&server, "sup1", "supervisor");
    add_user(&server, "admin", "admin");
    let sup = token(&base, "sup1").await;
    let (status, t) = call(
        &base,
        "POST",
        "/api/v1/tickets",
        Some(&sup),
        Some(ticket(1)),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["priority"], 2);
    let (status, body) = call(
        &base,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"login": "sup1", "password": "Wrong2026x"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let metrics = server.metrics();
    assert!(
        metrics.contains("qonyrau_tickets_opened_total{type=\"incident\",channel=\"phone\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qonyrau_login_failures_total{reason=\"bad_password\"} 1"),
        "{metrics}"
    );
    // The SLA job (every second here) refreshes the open-ticket gauge.
    let t0 = Instant::now();
    while !server
        .metrics()
        .contains("qonyrau_tickets_open{status=\"new\",priority=\"2\"} 1")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{}",
            server.metrics()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    if !peer("schemathesis") {
        return;
    }
    // Desk work as a supervisor (who may also read accounts and the audit log); sessions and
    // account administration separately, so a generated logout or reset cannot end the run.
    schemathesis(
        &base,
        Some(&sup),
        &["--exclude-tag", "session", "--exclude-tag", "staff"],
    );
    let admin = token(&base, "admin").await;
    schemathesis(&base, Some(&admin), &["--include-tag", "staff"]);
    schemathesis(&base, None, &["--include-tag", "session"]);
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

/// `[desk] default_language` reaches the API: a request without a session whose
/// Accept-Language names none of kk, ru, en is answered in it; one that does, in its best.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_login_follow_accept_language_else_the_configured_default() {
    let server = Server::start_opts(ServerOpts {
        desk: "default_language = \"kk\"\n",
        ..ServerOpts::default()
    });
    let base = format!("http://{}", server.http);
    let message = |lang: &'static str| {
        let url = format!("{base}/api/v1/tickets");
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .header("accept-language", lang)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("HTTP request");
            assert_eq!(resp.status().as_u16(), 401);
            let body: Value = resp.json().await.unwrap();
            body["message"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(
        message("ru-RU,ru;q=0.9,en;q=0.5").await,
        "Войдите в систему."
    );
    assert_eq!(message("kk;q=0.1, en;q=0.8").await, "Please log in.");
    assert_eq!(message("de").await, "Жүйеге кіріңіз.");
}

struct Postgres {
    state: String,
}

impl Postgres {
    fn run(&self, verb: &str) -> String {
        let out = Command::new(repo().join("scripts/pg-test.sh"))
            .arg(verb)
            .env("QONYRAU_PG_STATE", &self.state)
            .output()
            .expect("scripts/pg-test.sh");
        assert!(
            out.status.success(),
            "pg-test.sh {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/pg-test.sh"))
            .arg("stop")
            .env("QONYRAU_PG_STATE", &self.state)
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_run_gives_503_writes_nothing_and_service_resumes() {
    if !peer("/usr/lib/postgresql/15/bin/initdb") {
        return;
    }
    let pg = Postgres {
        state: format!("/tmp/qonyrau-pg-fault-{}", std::process::id()),
    };
    let url = pg.run("start");
    let server = Server::start_db("", "", Some(&url), &[]);
    let base = format!("http://{}", server.http);
    add_user(&server, "op1", "operator");
    let op = token(&base, "op1").await;
    let mut created = 0;
    for n in 0..5 {
        let (status, body) =
            call(&base, "POST", "/api/v1/tickets", Some(&op), Some(ticket(n))).await;
        assert_eq!(status, 201, "{body}");
        created += 1;
    }
    pg.run("pause");
    for n in 5..8 {
        let (status, body) =
            call(&base, "POST", "/api/v1/tickets", Some(&op), Some(ticket(n))).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("database_unavailable")),
            "{body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("nothing was saved")
                || body["message"]
                    .as_str()
                    .unwrap()
                    .contains("ничего не сохранено"),
            "{body}"
        );
    }
    let (status, _) = call(&base, "GET", "/api/v1/tickets", Some(&op), None).await;
    assert_eq!(status, 503);
    pg.run("resume");
    let t0 = Instant::now();
    loop {
        let (status, body) = call(
            &base,
            "POST",
            "/api/v1/tickets",
            Some(&op),
            Some(ticket(99)),
        )
        .await;
        if status == 201 {
            created += 1;
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the API did not recover: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, page) = call(&base, "GET", "/api/v1/tickets?limit=200", Some(&op), None).await;
    assert_eq!(status, 200, "{page}");
    let mut numbers: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_string())
        .collect();
    numbers.sort();
    let year = &numbers[0][3..7];
    let expected: Vec<String> = (1..=created).map(|n| format!("QN-{year}-{n:06}")).collect();
    assert_eq!(
        numbers, expected,
        "every refused request left nothing behind, not even a number"
    );
    let log = server.log_text();
    assert!(log.contains("database unavailable"), "{log}");
}
