//! API errors: a stable `code`, an HTTP status, and a human `message` in the user's language
//! (the session's interface language; without a session, the best of kk, ru, en by
//! `Accept-Language` with its q-values; else `[desk] default_language`). The message is
//! chosen after the handler runs, by [`localize`], because a request's language is known only
//! once its session is; `detail` carries the precise reason in English for logs and support.

use std::sync::{Arc, OnceLock};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use crate::db::DbError;
use crate::staff::password::PasswordRule;
use crate::staff::store::StaffError;
use crate::staff::Language;
use crate::tickets::error::StoreError;
use crate::tickets::escalation::EscalationError;
use crate::tickets::lifecycle::TransitionError;

/// What every error response carries.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, for programs: e.g. `invalid_field`, `locked`, `database_unavailable`.
    pub code: String,
    /// For people, in the user's language (kk, ru or en).
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The precise reason, in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `locked`: when the login unlocks; `throttled`: when to try again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    UnsupportedMediaType,
    InvalidField,
    Unauthorized,
    BadCredentials,
    Locked,
    Throttled,
    Forbidden,
    PasswordChangeRequired,
    NotFound,
    Conflict,
    TransitionNotAllowed,
    WeakPassword,
    WrongPassword,
    DatabaseUnavailable,
    Internal,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad_request",
            Kind::UnsupportedMediaType => "unsupported_media_type",
            Kind::InvalidField => "invalid_field",
            Kind::Unauthorized => "unauthorized",
            Kind::BadCredentials => "bad_credentials",
            Kind::Locked => "locked",
            Kind::Throttled => "throttled",
            Kind::Forbidden => "forbidden",
            Kind::PasswordChangeRequired => "password_change_required",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::TransitionNotAllowed => "transition_not_allowed",
            Kind::WeakPassword => "weak_password",
            Kind::WrongPassword => "wrong_password",
            Kind::DatabaseUnavailable => "database_unavailable",
            Kind::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::InvalidField | Kind::WeakPassword | Kind::WrongPassword => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Kind::Unauthorized | Kind::BadCredentials => StatusCode::UNAUTHORIZED,
            Kind::Locked => StatusCode::LOCKED,
            Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Kind::Forbidden | Kind::PasswordChangeRequired => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict | Kind::TransitionNotAllowed => StatusCode::CONFLICT,
            Kind::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(self, lang: Language) -> &'static str {
        use Language::*;
        match (self, lang) {
            (Kind::BadRequest, En) => "The request could not be read.",
            (Kind::BadRequest, Ru) => "Не удалось прочитать запрос.",
            (Kind::BadRequest, Kk) => "Сұрауды оқу мүмкін болмады.",
            (Kind::UnsupportedMediaType, En) => {
                "Send the request body as JSON (Content-Type: application/json)."
            }
            (Kind::UnsupportedMediaType, Ru) => {
                "Отправьте тело запроса в формате JSON (Content-Type: application/json)."
            }
            (Kind::UnsupportedMediaType, Kk) => {
                "Сұрау денесін JSON пішімінде жіберіңіз (Content-Type: application/json)."
            }
            (Kind::InvalidField, En) => "A field is filled in incorrectly; nothing was saved.",
            (Kind::InvalidField, Ru) => "Поле заполнено неверно; ничего не сохранено.",
            (Kind::InvalidField, Kk) => "Өріс қате толтырылған; ештеңе сақталмады.",
            (Kind::Unauthorized, En) => "Please log in.",
            (Kind::Unauthorized, Ru) => "Войдите в систему.",
            (Kind::Unauthorized, Kk) => "Жүйеге кіріңіз.",
            (Kind::BadCredentials, En) => "Wrong login or password.",
            (Kind::BadCredentials, Ru) => "Неверный логин или пароль.",
            (Kind::BadCredentials, Kk) => "Логин немесе құпиясөз қате.",
            (Kind::Locked, En) => "Too many wrong passwords: the login is locked for 10 minutes.",
            (Kind::Locked, Ru) => "Слишком много неверных паролей: вход заблокирован на 10 минут.",
            (Kind::Locked, Kk) => {
                "Құпиясөз тым көп рет қате енгізілді: кіру 10 минутқа бұғатталды."
            }
            (Kind::Throttled, En) => "Too many failed logins from this address; try again later.",
            (Kind::Throttled, Ru) => {
                "Слишком много неудачных входов с этого адреса; повторите позже."
            }
            (Kind::Throttled, Kk) => {
                "Бұл мекенжайдан сәтсіз кіру әрекеттері тым көп; кейінірек қайталаңыз."
            }
            (Kind::Forbidden, En) => "Your role does not allow this.",
            (Kind::Forbidden, Ru) => "Ваша роль не позволяет это действие.",
            (Kind::Forbidden, Kk) => "Рөліңіз бұл әрекетке рұқсат бермейді.",
            (Kind::PasswordChangeRequired, En) => "Change your temporary password first.",
            (Kind::PasswordChangeRequired, Ru) => "Сначала смените временный пароль.",
            (Kind::PasswordChangeRequired, Kk) => "Алдымен уақытша құпиясөзді ауыстырыңыз.",
            (Kind::NotFound, En) => "Not found.",
            (Kind::NotFound, Ru) => "Не найдено.",
            (Kind::NotFound, Kk) => "Табылмады.",
            (Kind::Conflict, En) => {
                "Someone changed this first, or it already exists; reload and try again."
            }
            (Kind::Conflict, Ru) => "Данные уже изменены или уже существуют; обновите и повторите.",
            (Kind::Conflict, Kk) => "Деректер өзгертілген немесе бар; жаңартып, қайталаңыз.",
            (Kind::TransitionNotAllowed, En) => {
                "This change is not allowed in the ticket's current state."
            }
            (Kind::TransitionNotAllowed, Ru) => {
                "Это изменение недопустимо в текущем состоянии заявки."
            }
            (Kind::TransitionNotAllowed, Kk) => {
                "Өтінімнің қазіргі күйінде бұл өзгеріске жол берілмейді."
            }
            (Kind::WeakPassword, En) => "The password does not meet the rules.",
            (Kind::WeakPassword, Ru) => "Пароль не соответствует требованиям.",
            (Kind::WeakPassword, Kk) => "Құпиясөз талаптарға сай емес.",
            (Kind::WrongPassword, En) => "The current password is wrong.",
            (Kind::WrongPassword, Ru) => "Текущий пароль неверен.",
            (Kind::WrongPassword, Kk) => "Ағымдағы құпиясөз қате.",
            (Kind::DatabaseUnavailable, En) => {
                "The database is unavailable; nothing was saved. Try again shortly."
            }
            (Kind::DatabaseUnavailable, Ru) => {
                "База данных недоступна; ничего не сохранено. Повторите чуть позже."
            }
            (Kind::DatabaseUnavailable, Kk) => {
                "Дерекқор қолжетімсіз; ештеңе сақталмады. Сәлден соң қайталаңыз."
            }
            (Kind::Internal, En) => "Something went wrong on the server; nothing was saved.",
            (Kind::Internal, Ru) => "Ошибка на сервере; ничего не сохранено.",
            (Kind::Internal, Kk) => "Серверде қате орын алды; ештеңе сақталмады.",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: Kind,
    pub field: Option<String>,
    pub detail: Option<String>,
    pub until: Option<Timestamp>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
    pub rules: Vec<PasswordRule>,
}

impl ApiError {
    pub fn new(kind: Kind) -> ApiError {
        ApiError {
            kind,
            field: None,
            detail: None,
            until: None,
            retry_after: None,
            rules: Vec::new(),
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> ApiError {
        self.detail = Some(d.into());
        self
    }

    pub fn field(mut self, f: impl Into<String>) -> ApiError {
        self.field = Some(f.into());
        self
    }

    /// `locked` or `throttled` until `until`, seen at `now`.
    pub fn until(kind: Kind, until: Timestamp, now: Timestamp) -> ApiError {
        let secs = until.duration_since(now).as_secs().max(1);
        ApiError {
            until: Some(until),
            retry_after: u64::try_from(secs).ok(),
            ..ApiError::new(kind)
        }
    }

    pub fn invalid(field: &str, why: impl Into<String>) -> ApiError {
        ApiError::new(Kind::InvalidField).field(field).detail(why)
    }

    pub fn body(&self, lang: Language) -> ErrorBody {
        let mut message = self.kind.message(lang).to_string();
        for r in &self.rules {
            message.push(' ');
            message.push_str(r.message(lang));
        }
        ErrorBody {
            code: self.kind.code().to_string(),
            message,
            field: self.field.clone(),
            detail: self.detail.clone(),
            until: self.until,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::new(Kind::DatabaseUnavailable).detail(e.to_string())
            }
            DbError::Conflict(m) => ApiError::new(Kind::Conflict).detail(m),
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::new(Kind::Internal)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Invalid { field, why } => ApiError::invalid(field, why),
            StoreError::NotFound { .. } => ApiError::new(Kind::NotFound).detail(e.to_string()),
            StoreError::Conflict(m) => ApiError::new(Kind::Conflict).detail(m),
            StoreError::Transition(t) => match t {
                TransitionError::NotAllowed { .. } => {
                    ApiError::new(Kind::TransitionNotAllowed).detail(t.to_string())
                }
                TransitionError::ResolutionRequired => {
                    ApiError::invalid("resolution", t.to_string())
                }
                _ => ApiError::invalid("reason", t.to_string()),
            },
            StoreError::Escalation(x) => match x {
                EscalationError::AtTopLine(_) | EscalationError::NotOpen(_) => {
                    ApiError::new(Kind::TransitionNotAllowed).detail(x.to_string())
                }
                EscalationError::NotNextLine { .. } => ApiError::invalid("to_line", x.to_string()),
                EscalationError::ReasonRequired => ApiError::invalid("reason", x.to_string()),
            },
            StoreError::Db(d) => d.into(),
            StoreError::Calendar(c) => {
                tracing::error!(error = %c, "working calendar");
                ApiError::new(Kind::Internal).detail(c.to_string())
            }
        }
    }
}

impl From<crate::registrar::store::SipAccountError> for ApiError {
    fn from(e: crate::registrar::store::SipAccountError) -> ApiError {
        use crate::registrar::store::SipAccountError as E;
        match e {
            E::BadExtension => ApiError::invalid("extension", e.to_string()),
            E::WeakPassword => ApiError::invalid("password", e.to_string()),
            E::NoStaff(_) => ApiError::new(Kind::NotFound).detail(e.to_string()),
            E::Taken(_) => ApiError::new(Kind::Conflict).detail(e.to_string()),
            E::Db(d) => d.into(),
        }
    }
}

impl From<StaffError> for ApiError {
    fn from(e: StaffError) -> ApiError {
        match e {
            StaffError::BadLogin => ApiError::invalid("login", e.to_string()),
            StaffError::WeakPassword(rules) => ApiError {
                rules,
                ..ApiError::new(Kind::WeakPassword).field("password")
            },
            StaffError::Exists(_) => ApiError::new(Kind::Conflict).detail(e.to_string()),
            StaffError::NotFound(_) => ApiError::new(Kind::NotFound).detail(e.to_string()),
            StaffError::WrongPassword => ApiError::new(Kind::WrongPassword).field("current"),
            StaffError::SamePassword => ApiError::invalid("new", e.to_string()),
            StaffError::Hash => ApiError::new(Kind::Internal),
            StaffError::Db(d) => d.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::new(Kind::UnsupportedMediaType).detail(r.body_text())
            }
            JsonRejection::JsonDataError(_) => {
                ApiError::new(Kind::InvalidField).detail(r.body_text())
            }
            _ => ApiError::new(Kind::BadRequest).detail(r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::new(Kind::BadRequest).detail(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(Kind::BadRequest).detail(r.body_text())
    }
}

/// Marks a response whose body [`localize`] writes.
#[derive(Clone)]
struct Pending(Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let mut r = status.into_response();
        if self.kind == Kind::DatabaseUnavailable {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r.extensions_mut().insert(Pending(Arc::new(self)));
        r
    }
}

/// The language a request's session chose, set by the session extractor.
#[derive(Clone, Default)]
pub struct LangSlot(Arc<OnceLock<Language>>);

impl LangSlot {
    pub fn set(&self, lang: Language) {
        let _ = self.0.set(lang);
    }
}

/// The language of kk, ru, en that `Accept-Language` prefers (RFC 9110 §12.5.4): the highest
/// q-value wins (1 when absent), the earlier range on a tie; `q=0` means "not this one"; a
/// region or script subtag is ignored (`ru-RU` is `ru`). `None` when it names none of the three
/// (a bare `*` included: the configured default is the server's own choice).
pub fn accept_language(headers: &HeaderMap) -> Option<Language> {
    let value = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut best: Option<(u16, Language)> = None;
    for range in value.split(',') {
        let mut params = range.split(';');
        let tag = params.next().unwrap_or_default().trim();
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        let Ok(lang) = primary.to_ascii_lowercase().parse::<Language>() else {
            continue;
        };
        let mut q = 1000;
        for param in params {
            if let Some((name, v)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    q = qvalue(v.trim()).unwrap_or(0);
                }
            }
        }
        if q > 0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Middleware: write the body of error responses in the request's language: the session's
/// if the request had one, else `Accept-Language`'s, else `default` (`[desk]
/// default_language`).
pub async fn localize(
    axum::extract::State(default): axum::extract::State<Language>,
    mut req: Request,
    next: Next,
) -> Response {
    let accept = accept_language(req.headers());
    let slot = LangSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut resp = next.run(req).await;
    if let Some(Pending(e)) = resp.extensions_mut().remove::<Pending>() {
        let lang = slot.0.get().copied().or(accept).unwrap_or(default);
        let (mut parts, _) = resp.into_parts();
        let body = serde_json::to_vec(&e.body(lang)).unwrap_or_default();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, axum::body::Body::from(body));
    }
    resp
}

/// `Json` whose rejections are [`ApiError`]s.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(value: &str) -> Option<Language> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(value).unwrap(),
        );
        accept_language(&headers)
    }

    #[test]
    fn accept_language_honours_q_values_and_ignores_region_subtags() {
        assert_eq!(pick("ru-RU,ru;q=0.9,en;q=0.5"), Some(Language::Ru));
        assert_eq!(pick("kk;q=0.1, en;q=0.8"), Some(Language::En));
        assert_eq!(pick("de-DE, en-GB;q=0.7, kk-KZ;q=0.71"), Some(Language::Kk));
        assert_eq!(pick("EN-us"), Some(Language::En));
        assert_eq!(pick("en;q=0.5, ru;q=0.5"), Some(Language::En)); // a tie: the first
        assert_eq!(pick("ru;q=0, en;q=0.001"), Some(Language::En)); // q=0: not Russian
        assert_eq!(pick("ru;q=0"), None);
        assert_eq!(pick("de, fr;q=0.9"), None);
        assert_eq!(pick("*"), None);
        assert_eq!(pick("english"), None); // not a tag for en
        assert_eq!(pick("ru;q=2, kk;q=0.3"), Some(Language::Kk)); // a malformed q counts as 0
    }
}
