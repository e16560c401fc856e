//! Sessions: `POST /api/v1/session` (log in: a token and a cookie), `GET` (who am I),
//! `DELETE` (log out), `POST /api/v1/session/password` (change one's password, required
//! after a reset). [`Caller`] authenticates every other request by bearer token or cookie.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};

use crate::staff::session::{self, token_hash, LoginOutcome, SessionInfo};
use crate::staff::{Language, Role};
use crate::web::error::{ApiError, ApiJson, ErrorBody, Kind, LangSlot};
use crate::web::ApiState;

pub const COOKIE: &str = "qonyrau_session";
const CACHE_FOR: SignedDuration = SignedDuration::from_secs(30);

/// An authenticated request whose password need not be changed first.
#[derive(Debug, Clone)]
pub struct Caller {
    pub session: SessionInfo,
    pub token: String,
}

/// An authenticated request, even one that must change its temporary password first.
#[derive(Debug, Clone)]
pub struct AnyCaller(pub Caller);

impl Caller {
    pub fn login(&self) -> &str {
        &self.session.login
    }

    /// Refuse unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.session.role) {
            Ok(())
        } else {
            Err(ApiError::new(Kind::Forbidden).detail(format!(
                "role {} may not do this; allowed: {}",
                self.session.role,
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Ticket and contact work: operators (line 1), engineers (lines 2–3), supervisors.
pub const DESK: &[Role] = &[Role::Operator, Role::Engineer, Role::Supervisor];
/// Account administration.
pub const ADMIN: &[Role] = &[Role::Admin];
/// Reading accounts and the audit log.
pub const OVERSIGHT: &[Role] = &[Role::Supervisor, Role::Admin];

fn token_of(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim().to_string());
        }
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

async fn authenticate(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
    let token = token_of(parts)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| {
            ApiError::new(Kind::Unauthorized)
                .detail("no session: send Authorization: Bearer TOKEN or the session cookie")
        })?;
    let now = state.now();
    let key = token_hash(&token);
    let cached = {
        let cache = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&key).cloned()
    };
    // A cached session is used until it expires or for CACHE_FOR after it was loaded.
    let fresh = |s: &SessionInfo, loaded: Timestamp| now < s.expires_at && now < loaded + CACHE_FOR;
    let session = match cached {
        Some((s, loaded)) if fresh(&s, loaded) => s,
        _ => {
            let s = session::lookup(state.db(), &token, now)
                .await?
                .ok_or_else(|| {
                    ApiError::new(Kind::Unauthorized).detail("the session has expired or ended")
                })?;
            let mut cache = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 10_000 {
                cache.retain(|_, (s, loaded)| fresh(s, *loaded));
            }
            cache.insert(key, (s.clone(), now));
            s
        }
    };
    if let Some(slot) = parts.extensions.get::<LangSlot>() {
        slot.set(session.language);
    }
    Ok(Caller { session, token })
}

impl FromRequestParts<ApiState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(AnyCaller)
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let c = authenticate(parts, state).await?;
        if c.session.must_change_password {
            return Err(ApiError::new(Kind::PasswordChangeRequired)
                .detail("POST /api/v1/session/password with the temporary and a new password"));
        }
        Ok(c)
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub login: String,
    pub role: Role,
    pub language: Language,
    /// The password is temporary: change it before anything else.
    pub must_change_password: bool,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

impl From<&SessionInfo> for SessionView {
    fn from(s: &SessionInfo) -> SessionView {
        SessionView {
            login: s.login.clone(),
            role: s.role,
            language: s.language,
            must_change_password: s.must_change_password,
            expires_at: s.expires_at,
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer TOKEN` (or rely on the cookie).
    pub token: String,
    #[serde(flatten)]
    pub session: SessionView,
}

/// Log in.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in; also sets the session cookie", body = LoginResponse),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, description = "Wrong login or password", body = ErrorBody),
        (status = 423, description = "Locked after five wrong passwords; `until` says when it unlocks", body = ErrorBody),
        (status = 429, description = "Too many failures from this address", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if req.login.chars().count() > 64 || req.password.chars().count() > 128 {
        return Err(ApiError::new(Kind::BadCredentials));
    }
    let now = state.now();
    let outcome = state
        .logins
        .login(state.db(), now, &req.login, &req.password, peer.ip())
        .await?;
    match outcome {
        LoginOutcome::Started { token, session } => {
            let max_age = session.expires_at.duration_since(now).as_secs().max(0);
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
                if state.cookie_secure { "; Secure" } else { "" }
            );
            let body = LoginResponse {
                token,
                session: SessionView::from(&session),
            };
            let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(r)
        }
        LoginOutcome::BadCredentials => Err(ApiError::new(Kind::BadCredentials)),
        LoginOutcome::Locked { until } => Err(ApiError::until(Kind::Locked, until, now)),
        LoginOutcome::Throttled { until } => Err(ApiError::until(Kind::Throttled, until, now)),
    }
}

/// The current session.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn whoami(AnyCaller(c): AnyCaller) -> axum::Json<SessionView> {
    axum::Json(SessionView::from(&c.session))
}

/// Log out: the token stops working at once.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Logged out"), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn logout(
    State(state): State<ApiState>,
    AnyCaller(c): AnyCaller,
) -> Result<Response, ApiError> {
    session::logout(state.db(), state.now(), &c.token, c.login()).await?;
    state
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&token_hash(&c.token));
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("qonyrau_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(r)
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    /// 8–20 characters with a lower-case and an upper-case letter and a digit.
    pub new: String,
}

/// Change one's own password (required after a reset); other sessions end.
#[utoipa::path(post, path = "/api/v1/session/password", tag = "session", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "Weak new password or wrong current one", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<ApiState>,
    AnyCaller(c): AnyCaller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    session::change_password(
        state.db(),
        state.now(),
        c.login(),
        &req.current,
        &req.new,
        &c.token,
    )
    .await?;
    state.forget_sessions();
    Ok(StatusCode::NO_CONTENT)
}
