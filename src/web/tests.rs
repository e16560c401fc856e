//! The API over real HTTP (reqwest against the router on a loopback port), on SQLite and
//! PostgreSQL, with a manual clock for the lockout's ten minutes and the SLA's working hours.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::calendar::testing::cal;
use crate::clock::{Clock, ManualClock};
use crate::db::testing::databases;
use crate::db::Db;
use crate::staff::lockout::LockoutPolicy;
use crate::staff::session::Logins;
use crate::staff::{store as staff, Language, Role};
use crate::tickets::priority::PriorityMatrix;
use crate::tickets::sla::SlaPolicy;
use crate::tickets::store::TicketDesk;
use crate::web::{router, ApiState};

const PASSWORD: &str = "Qonyrau2026";

struct Api {
    base: String,
    clock: ManualClock,
    desk: TicketDesk,
    client: reqwest::Client,
    _cancel: tokio_util::sync::DropGuard,
}

fn monday_noon() -> Timestamp {
    "2026-11-23T07:00:00Z".parse().unwrap() // 12:00 in Astana
}

async fn api(db: Db) -> Api {
    api_with_default_language(db, Language::Ru).await
}

/// As [`api`], with `[desk] default_language = lang`.
async fn api_with_default_language(db: Db, default_language: Language) -> Api {
    let desk = TicketDesk::new(
        db.clone(),
        Arc::new(cal()),
        Arc::new(PriorityMatrix::default()),
        SlaPolicy::default(),
    );
    let clock = ManualClock::new(monday_noon());
    for (login, role, lang) in [
        ("admin", Role::Admin, Language::En),
        ("op1", Role::Operator, Language::Kk),
        ("eng1", Role::Engineer, Language::Ru),
        ("sup1", Role::Supervisor, Language::En),
    ] {
        staff::add(&db, monday_noon(), login, role, lang, PASSWORD)
            .await
            .unwrap();
    }
    let state = ApiState::new(
        desk.clone(),
        Arc::new(clock.clone()),
        Logins::new(LockoutPolicy::default(), Duration::from_secs(12 * 3600)),
        false,
    )
    .with_default_language(default_language);
    let cancel = CancellationToken::new();
    let (addr, _) = crate::http::spawn(
        "127.0.0.1:0".parse().unwrap(),
        router(state),
        cancel.clone(),
    )
    .await
    .unwrap();
    Api {
        base: format!("http://{addr}"),
        clock,
        desk,
        client: reqwest::Client::new(),
        _cancel: cancel.drop_guard(),
    }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("accept-language", "en");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A request with this `Accept-Language` (none when `None`) and a raw body; (status,
    /// error code, message).
    async fn in_language(
        &self,
        method: &str,
        path: &str,
        accept_language: Option<&str>,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String, String) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(l) = accept_language {
            req = req.header("accept-language", l);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        (
            status,
            body["code"].as_str().unwrap_or_default().to_string(),
            body["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    async fn login(&self, login: &str, password: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/api/v1/session",
            None,
            Some(json!({"login": login, "password": password})),
        )
        .await
    }

    async fn token(&self, login: &str) -> String {
        let (status, body) = self.login(login, PASSWORD).await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_string()
    }
}

fn incident(phone: &str) -> Value {
    json!({
        "type": "incident", "channel": "phone", "subject": "The procurement portal rejects my signature",
        "description": "Since this morning", "impact": "medium", "urgency": "high",
        "service_level": "basic", "criticality": "level2",
        "contact": {"name": "Айгерім Сейтқали", "phone": phone}
    })
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login_for_ten_minutes() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        for _ in 0..4 {
            let (status, body) = api.login("op1", "Wrong2026x").await;
            assert_eq!(
                (status, body["code"].as_str()),
                (401, Some("bad_credentials")),
                "{body}"
            );
            assert_eq!(body["message"], "Wrong login or password.");
        }
        let (status, body) = api.login("op1", "Wrong2026x").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (423, Some("locked")),
            "{body}"
        );
        assert_eq!(body["until"], "2026-11-23T07:10:00Z");
        // Even the right password is refused while locked.
        let (status, _) = api.login("op1", PASSWORD).await;
        assert_eq!(status, 423);
        api.clock.advance(SignedDuration::from_secs(599));
        assert_eq!(api.login("op1", PASSWORD).await.0, 423);
        api.clock.advance(SignedDuration::from_secs(1));
        let (status, body) = api.login("op1", PASSWORD).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["language"], "kk");
        // An unknown login and a known one fail alike.
        assert_eq!(api.login("nobody", PASSWORD).await.0, 401);
        // The lock was audited.
        let sup = api.token("sup1").await;
        let (_, audit) = api
            .call(
                "GET",
                "/api/v1/audit?entity=staff&entity_id=op1",
                Some(&sup),
                None,
            )
            .await;
        assert!(
            audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "lock"),
            "{audit}"
        );
    }
}

#[tokio::test]
async fn the_session_cookie_works_and_logout_ends_the_session() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        let resp = api
            .client
            .post(format!("{}/api/v1/session", api.base))
            .json(&json!({"login": "op1", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        let who = api
            .client
            .get(format!("{}/api/v1/session", api.base))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(who.status(), 200);
        let token = pair.split_once('=').unwrap().1.to_string();
        assert_eq!(
            api.call("DELETE", "/api/v1/session", Some(&token), None)
                .await
                .0,
            204
        );
        let (status, body) = api.call("GET", "/api/v1/session", Some(&token), None).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
}

#[tokio::test]
async fn every_endpoint_checks_the_role() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        let (admin, op, sup) = (
            api.token("admin").await,
            api.token("op1").await,
            api.token("sup1").await,
        );
        let cases: &[(&str, &str, &str, Option<Value>, u16)] = &[
            (
                &admin,
                "POST",
                "/api/v1/tickets",
                Some(incident("+77010000001")),
                403,
            ),
            (&admin, "GET", "/api/v1/tickets", None, 403),
            (&admin, "GET", "/api/v1/contacts", None, 403),
            (&op, "GET", "/api/v1/staff", None, 403),
            (
                &op,
                "POST",
                "/api/v1/staff",
                Some(json!({"login": "x1y", "role": "admin"})),
                403,
            ),
            (&op, "POST", "/api/v1/staff/op1/unlock", None, 403),
            (&op, "GET", "/api/v1/audit", None, 403),
            (&sup, "POST", "/api/v1/staff/op1/reset", None, 403),
            (&sup, "GET", "/api/v1/staff", None, 200),
            (&sup, "GET", "/api/v1/audit", None, 200),
            (
                &op,
                "POST",
                "/api/v1/tickets",
                Some(incident("+77010000001")),
                201,
            ),
            (&admin, "POST", "/api/v1/staff/op1/unlock", None, 204),
        ];
        for (token, method, path, body, expected) in cases {
            let (status, got) = api.call(method, path, Some(token), body.clone()).await;
            assert_eq!(status, *expected, "{method} {path}: {got}");
            if *expected == 403 {
                assert_eq!(got["code"], "forbidden");
            }
        }
        let (status, body) = api.call("GET", "/api/v1/tickets", None, None).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
}

#[tokio::test]
async fn a_ticket_from_opening_to_closing() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        let (op, eng) = (api.token("op1").await, api.token("eng1").await);
        let (status, t) = api
            .call(
                "POST",
                "/api/v1/tickets",
                Some(&op),
                Some(incident("+77010000001")),
            )
            .await;
        assert_eq!(status, 201, "{t}");
        assert_eq!(t["number"], "QN-2026-000001");
        assert_eq!(
            (t["priority"].as_u64(), t["status"].as_str()),
            (Some(2), Some("new"))
        );
        assert_eq!(t["first_response_due"], "2026-11-24T07:00:00Z");
        assert_eq!(t["resolve_due"], "2026-11-26T07:00:00Z");
        assert_eq!(t["fix_due"], "2026-11-30T07:00:00Z");
        let n = "/api/v1/tickets/QN-2026-000001";
        // Take it: in progress, with the department and the ETA told to the caller.
        let (status, t) = api
            .call("PATCH", n, Some(&op), Some(json!({"version": 0, "status": "in_progress", "department": "Portal support", "eta": "tomorrow 12:00"})))
            .await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(
            (t["status"].as_str(), t["version"].as_i64()),
            (Some("in_progress"), Some(1))
        );
        assert!(t["first_response_at"].is_string());
        // A stale version is refused and changes nothing.
        let (status, body) = api
            .call(
                "PATCH",
                n,
                Some(&op),
                Some(json!({"version": 0, "urgency": "highest"})),
            )
            .await;
        assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
        // Escalation goes one line at a time, with a reason.
        let (status, body) = api
            .call(
                "POST",
                &format!("{n}/escalate"),
                Some(&op),
                Some(json!({"to_line": 3, "reason": "needs the vendor"})),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("to_line")),
            "{body}"
        );
        let (status, t) = api
            .call(
                "POST",
                &format!("{n}/escalate"),
                Some(&op),
                Some(json!({"reason": "signature service", "department": "PKI"})),
            )
            .await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(
            (t["line"].as_u64(), t["escalations"][0]["by"].as_str()),
            (Some(2), Some("op1"))
        );
        let (status, _) = api
            .call(
                "POST",
                &format!("{n}/escalate"),
                Some(&eng),
                Some(json!({"reason": "vendor bug"})),
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = api
            .call(
                "POST",
                &format!("{n}/escalate"),
                Some(&eng),
                Some(json!({"reason": "more"})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("transition_not_allowed")),
            "{body}"
        );
        // Notes and links.
        let (status, t) = api
            .call(
                "POST",
                &format!("{n}/notes"),
                Some(&eng),
                Some(json!({"body": "Certificate chain renewed"})),
            )
            .await;
        assert_eq!(
            (status, t["notes"][0]["author"].as_str()),
            (201, Some("eng1"))
        );
        api.call(
            "POST",
            "/api/v1/tickets",
            Some(&op),
            Some(incident("+77010000002")),
        )
        .await;
        let (status, t) = api
            .call(
                "POST",
                &format!("{n}/links"),
                Some(&eng),
                Some(json!({"number": "QN-2026-000002", "kind": "parent_of"})),
            )
            .await;
        assert_eq!(
            (status, t["links"][0]["kind"].as_str()),
            (201, Some("parent_of")),
            "{t}"
        );
        let (_, other) = api
            .call("GET", "/api/v1/tickets/QN-2026-000002", Some(&op), None)
            .await;
        assert_eq!(other["links"][0]["kind"], "child_of");
        // Resolving needs a resolution; closing resolves first.
        let (status, body) = api
            .call("PATCH", n, Some(&eng), Some(json!({"status": "resolved"})))
            .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("resolution")));
        let (status, t) = api
            .call(
                "POST",
                &format!("{n}/close"),
                Some(&eng),
                Some(json!({"resolution": "Renewed the certificate chain"})),
            )
            .await;
        assert_eq!((status, t["status"].as_str()), (200, Some("closed")), "{t}");
        let (status, body) = api
            .call(
                "PATCH",
                n,
                Some(&eng),
                Some(json!({"status": "in_progress"})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("transition_not_allowed")),
            "{body}"
        );
        // A resolved ticket can be reopened (its resolution time is cleared).
        let n2 = "/api/v1/tickets/QN-2026-000002";
        let (status, t) = api
            .call(
                "PATCH",
                n2,
                Some(&op),
                Some(json!({"status": "resolved", "resolution": "Told the caller how"})),
            )
            .await;
        assert_eq!((status, t["resolved_at"].is_string()), (200, true), "{t}");
        let (status, t) = api
            .call(
                "PATCH",
                n2,
                Some(&op),
                Some(json!({"status": "in_progress"})),
            )
            .await;
        assert_eq!((status, t["resolved_at"].is_null()), (200, true), "{t}");
        // Search and filters.
        let (_, page) = api
            .call(
                "GET",
                "/api/v1/tickets?status=new,in_progress&limit=1",
                Some(&op),
                None,
            )
            .await;
        assert_eq!(
            (page["total"].as_u64(), page["items"][0]["number"].as_str()),
            (Some(1), Some("QN-2026-000002"))
        );
        let (status, _) = api
            .call("GET", "/api/v1/tickets?status=open", Some(&op), None)
            .await;
        assert_eq!(status, 422);
        // The history has who, when, what, before and after.
        let (_, history) = api
            .call("GET", &format!("{n}/audit?limit=200"), Some(&op), None)
            .await;
        let items = history["items"].as_array().unwrap();
        let status_changes: Vec<(String, String)> = items
            .iter()
            .filter(|e| e["field"] == "status")
            .map(|e| {
                (
                    e["before"].as_str().unwrap().to_string(),
                    e["after"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            status_changes,
            [
                ("resolved", "closed"),
                ("in_progress", "resolved"),
                ("new", "in_progress")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(items
            .iter()
            .any(|e| e["field"] == "line" && e["before"] == "1" && e["after"] == "2"));
    }
}

#[tokio::test]
async fn a_bad_request_changes_nothing_and_says_why_in_the_users_language() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        let op = api.token("op1").await; // interface language kk
        let mut bad = incident("+77010000001");
        bad["contact"]["iin"] = json!("900101300125");
        let (status, body) = api
            .call("POST", "/api/v1/tickets", Some(&op), Some(bad))
            .await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (422, Some("invalid_field"), Some("contact.iin"))
        );
        assert_eq!(body["message"], "Өріс қате толтырылған; ештеңе сақталмады.");
        let mut bad = incident("+77010000001");
        bad["urgency"] = json!("urgent");
        assert_eq!(
            api.call("POST", "/api/v1/tickets", Some(&op), Some(bad))
                .await
                .0,
            422
        );
        let raw = api
            .client
            .post(format!("{}/api/v1/tickets", api.base))
            .bearer_auth(&op)
            .header("content-type", "application/json")
            .body("{\"type\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 400);
        let (status, t) = api
            .call(
                "POST",
                "/api/v1/tickets",
                Some(&op),
                Some(incident("+77010000001")),
            )
            .await;
        assert_eq!(
            (status, t["number"].as_str()),
            (201, Some("QN-2026-000001")),
            "no number was used"
        );
        let (_, contacts) = api.call("GET", "/api/v1/contacts", Some(&op), None).await;
        assert_eq!(contacts["total"], 1);
    }
}

#[tokio::test]
async fn a_reset_password_must_be_changed_before_anything_else() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        let admin = api.token("admin").await;
        let old = api.token("op1").await;
        let (status, body) = api
            .call("POST", "/api/v1/staff/op1/reset", Some(&admin), None)
            .await;
        assert_eq!(status, 200);
        let temporary = body["temporary_password"].as_str().unwrap().to_string();
        assert_eq!(
            api.call("GET", "/api/v1/tickets", Some(&old), None).await.0,
            401,
            "reset ends sessions"
        );
        let (status, body) = api.login("op1", &temporary).await;
        assert_eq!(
            (status, body["must_change_password"].as_bool()),
            (201, Some(true))
        );
        let token = body["token"].as_str().unwrap().to_string();
        let (status, body) = api.call("GET", "/api/v1/tickets", Some(&token), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("password_change_required"))
        );
        let (status, body) = api
            .call(
                "POST",
                "/api/v1/session/password",
                Some(&token),
                Some(json!({"current": temporary, "new": "short"})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("weak_password"))
        );
        assert!(body["message"].as_str().unwrap().contains("8"), "{body}");
        let (status, _) = api
            .call(
                "POST",
                "/api/v1/session/password",
                Some(&token),
                Some(json!({"current": temporary, "new": "Better2026x"})),
            )
            .await;
        assert_eq!(status, 204);
        assert_eq!(
            api.call("GET", "/api/v1/tickets", Some(&token), None)
                .await
                .0,
            200
        );
        assert_eq!(api.login("op1", "Better2026x").await.0, 201);
    }
}

#[tokio::test]
async fn the_sla_pass_records_breaches_once_and_closes_silent_tickets() {
    for (db, _dir) in databases().await {
        let api = api(db).await;
        let op = api.token("op1").await;
        api.call(
            "POST",
            "/api/v1/tickets",
            Some(&op),
            Some(incident("+77010000001")),
        )
        .await;
        let (_, t) = api
            .call(
                "POST",
                "/api/v1/tickets",
                Some(&op),
                Some(incident("+77010000002")),
            )
            .await;
        let n2 = format!("/api/v1/tickets/{}", t["number"].as_str().unwrap());
        api.call(
            "PATCH",
            &n2,
            Some(&op),
            Some(json!({"status": "waiting_customer"})),
        )
        .await;
        api.call(
            "POST",
            &format!("{n2}/notes"),
            Some(&op),
            Some(json!({"body": "Asked for a screenshot by e-mail"})),
        )
        .await;
        // Monday 12:00 + 7 h 59 min of working time (6 h 30 min on Monday, the rest from
        // 09:00 on Tuesday) is Tuesday 10:29. Nothing is due yet.
        api.clock.set("2026-11-24T05:29:00Z".parse().unwrap());
        let pass = api
            .desk
            .sla_pass(api.clock.now())
            .await
            .unwrap_or_else(|e| panic!("SLA pass: {e} ({e:?})"));
        assert!(
            pass.auto_closed.is_empty() && pass.breaches.is_empty(),
            "{pass:?}"
        );
        // Tuesday 12:30: more than 8 working hours waited; the first ticket's first response
        // (due one working day after opening, Tuesday 12:00) is late.
        api.clock.set("2026-11-24T07:30:00Z".parse().unwrap());
        let pass = api
            .desk
            .sla_pass(api.clock.now())
            .await
            .unwrap_or_else(|e| panic!("SLA pass: {e} ({e:?})"));
        assert_eq!(pass.auto_closed, ["QN-2026-000002"]);
        assert_eq!(pass.breaches.len(), 1, "{pass:?}");
        let again = api.desk.sla_pass(api.clock.now()).await.unwrap();
        assert!(again.breaches.is_empty(), "each breach is recorded once");
        let (status, _) = api.call("GET", &n2, Some(&op), None).await;
        assert_eq!(status, 401, "yesterday's session has expired (12 h)");
        let op = api.token("op1").await;
        let (_, t) = api.call("GET", &n2, Some(&op), None).await;
        assert_eq!(
            (t["status"].as_str(), t["reason"].as_str()),
            (Some("closed"), Some("no_response_from_user"))
        );
        assert_eq!(
            t["resolution"],
            "No response from the user. Actions taken: Asked for a screenshot by e-mail"
        );
        let (_, t1) = api
            .call("GET", "/api/v1/tickets/QN-2026-000001", Some(&op), None)
            .await;
        assert_eq!(t1["breaches"], json!(["first_response"]));
        let (_, page) = api
            .call("GET", "/api/v1/tickets?breached=true", Some(&op), None)
            .await;
        assert_eq!(page["total"], 1);
    }
}

#[tokio::test]
async fn an_admin_gives_an_operator_a_sip_extension_and_unlock_lifts_its_sip_lock() {
    for (db, _dir) in databases().await {
        let api = api(db.clone()).await;
        let (admin, op, sup) = (
            api.token("admin").await,
            api.token("op1").await,
            api.token("sup1").await,
        );
        let body = json!({"extension": "2001", "password": "sip-secret-1"});
        let (status, _) = api
            .call(
                "PUT",
                "/api/v1/staff/op1/sip",
                Some(&op),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 403, "only an admin sets SIP accounts");
        let (status, view) = api
            .call("PUT", "/api/v1/staff/op1/sip", Some(&admin), Some(body))
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["extension"], "2001");
        let (status, _) = api
            .call(
                "PUT",
                "/api/v1/staff/sup1/sip",
                Some(&admin),
                Some(json!({"extension": "2001", "password": "sip-secret-2"})),
            )
            .await;
        assert_eq!(status, 409, "an extension belongs to one member");
        let (status, err) = api
            .call(
                "PUT",
                "/api/v1/staff/sup1/sip",
                Some(&admin),
                Some(json!({"extension": "twenty", "password": "sip-secret-2"})),
            )
            .await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some("extension")),
            "{err}"
        );
        // A SIP lock shows, and the staff unlock lifts it with the web lock.
        let mut acct = crate::registrar::store::account(&db, "2001", "qonyrau")
            .await
            .unwrap()
            .unwrap();
        acct.lock.failures = 5;
        acct.lock.locked_until = Some(monday_noon() + SignedDuration::from_mins(10));
        crate::registrar::store::save_lock(&db, monday_noon(), &acct, true)
            .await
            .unwrap();
        let (status, view) = api
            .call("GET", "/api/v1/staff/op1/sip", Some(&sup), None)
            .await;
        assert_eq!(status, 200);
        assert!(view["locked_until"].is_string(), "{view}");
        let (status, _) = api
            .call("POST", "/api/v1/staff/op1/unlock", Some(&admin), None)
            .await;
        assert_eq!(status, 204);
        let (_, view) = api
            .call("GET", "/api/v1/staff/op1/sip", Some(&sup), None)
            .await;
        assert!(view["locked_until"].is_null(), "{view}");
        let (status, _) = api
            .call("GET", "/api/v1/staff/eng1/sip", Some(&sup), None)
            .await;
        assert_eq!(status, 404, "no extension");
    }
}

/// The language tests need no PostgreSQL run: the choice of language is the same on both.
async fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    (db, dir)
}

#[tokio::test]
async fn errors_before_login_follow_accept_language_with_q_values() {
    let (db, _dir) = sqlite().await;
    let api = api_with_default_language(db, Language::Ru).await;
    let unauthorized = |lang| api.in_language("GET", "/api/v1/tickets", lang, None, None);
    assert_eq!(
        unauthorized(Some("ru-RU,ru;q=0.9,en;q=0.5")).await,
        (401, "unauthorized".into(), "Войдите в систему.".into())
    );
    assert_eq!(
        unauthorized(Some("kk;q=0.1, en;q=0.8")).await,
        (401, "unauthorized".into(), "Please log in.".into())
    );
    assert_eq!(
        unauthorized(Some("kk-KZ")).await,
        (401, "unauthorized".into(), "Жүйеге кіріңіз.".into())
    );
    // A wrong password, a body that is not JSON, a path that does not exist: all before login.
    let login = |lang, body| api.in_language("POST", "/api/v1/session", lang, None, Some(body));
    let wrong = r#"{"login": "op1", "password": "Wrong2026x"}"#;
    assert_eq!(
        login(Some("en-GB;q=0.9, ru;q=0.2"), wrong).await,
        (
            401,
            "bad_credentials".into(),
            "Wrong login or password.".into()
        )
    );
    assert_eq!(
        login(Some("kk"), "{\"login\": ").await,
        (
            400,
            "bad_request".into(),
            "Сұрауды оқу мүмкін болмады.".into()
        )
    );
    assert_eq!(
        api.in_language("GET", "/api/v1/nowhere", Some("en"), None, None)
            .await,
        (404, "not_found".into(), "Not found.".into())
    );
}

#[tokio::test]
async fn errors_before_login_fall_back_to_the_configured_default_language() {
    let (db, _dir) = sqlite().await;
    let api = api_with_default_language(db, Language::Kk).await;
    for lang in [
        Some("de"),
        Some("de-CH, fr;q=0.5, *;q=0.1"),
        Some("ru;q=0"),
        None,
    ] {
        assert_eq!(
            api.in_language("GET", "/api/v1/tickets", lang, None, None)
                .await,
            (401, "unauthorized".into(), "Жүйеге кіріңіз.".into()),
            "Accept-Language: {lang:?}"
        );
    }
    let (db, _dir) = sqlite().await;
    let api = api_with_default_language(db, Language::En).await;
    assert_eq!(
        api.in_language("GET", "/api/v1/tickets", Some("de"), None, None)
            .await
            .2,
        "Please log in."
    );
}

#[tokio::test]
async fn after_login_the_staff_members_own_language_wins_over_accept_language() {
    let (db, _dir) = sqlite().await;
    let api = api_with_default_language(db, Language::En).await;
    let op = api.token("op1").await; // interface language kk
    assert_eq!(
        api.in_language("GET", "/api/v1/audit", Some("en"), Some(&op), None)
            .await,
        (
            403,
            "forbidden".into(),
            "Рөліңіз бұл әрекетке рұқсат бермейді.".into()
        )
    );
    let eng = api.token("eng1").await; // interface language ru
    assert_eq!(
        api.in_language(
            "GET",
            "/api/v1/tickets/QN-2026-999999",
            Some("kk, en;q=0.5"),
            Some(&eng),
            None
        )
        .await,
        (404, "not_found".into(), "Не найдено.".into())
    );
}
