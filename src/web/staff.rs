//! `/api/v1/staff`: accounts. Admins manage them; supervisors may read them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::registrar::store as sip;
use crate::staff::password;
use crate::staff::store::{self, NewStaff, StaffMember, StaffPatch};
use crate::staff::{Language, Role};
use crate::web::auth::{Caller, ADMIN, OVERSIGHT};
use crate::web::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::web::{ApiState, Listing, PageQuery};

/// Staff accounts.
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(PageQuery),
    responses(
        (status = 200, body = Listing<StaffMember>),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Listing<StaffMember>>, ApiError> {
    caller.require(OVERSIGHT)?;
    let page = q.page()?;
    Ok(Json(Listing::new(
        store::list(state.db(), page).await?,
        page,
    )))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStaff {
    pub login: String,
    pub role: Role,
    pub language: Option<Language>,
    #[serde(default)]
    pub accessibility: bool,
    /// Omit to get a temporary password (changed at first login).
    pub password: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedStaff {
    pub member: StaffMember,
    /// Given once, when no password was set: hand it over; it must be changed at first login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
}

/// Add an account.
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = CreateStaff,
    responses(
        (status = 201, body = CreatedStaff),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 409, description = "The login exists", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateStaff>,
) -> Result<(StatusCode, Json<CreatedStaff>), ApiError> {
    caller.require(ADMIN)?;
    let temporary = req
        .password
        .is_none()
        .then(|| password::temporary(&mut rand::rng()));
    let pw = req
        .password
        .as_deref()
        .or(temporary.as_deref())
        .unwrap_or_default();
    if pw.chars().count() > 128 {
        return Err(ApiError::invalid("password", "is too long"));
    }
    let new = NewStaff {
        login: &req.login,
        role: req.role,
        language: req.language.unwrap_or(Language::Ru),
        accessibility: req.accessibility,
        password: pw,
        must_change: temporary.is_some(),
    };
    let member = store::create(state.db(), state.now(), caller.login(), &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedStaff {
            member,
            temporary_password: temporary,
        }),
    ))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/staff/{login}", tag = "staff",
    params(("login" = String, Path, description = "Login")),
    responses(
        (status = 200, body = StaffMember), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<StaffMember>, ApiError> {
    caller.require(OVERSIGHT)?;
    Ok(Json(store::get(state.db(), &login).await?))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStaff {
    pub role: Option<Role>,
    pub language: Option<Language>,
    pub accessibility: Option<bool>,
    /// false ends the account's sessions and refuses its logins.
    pub active: Option<bool>,
}

/// Change an account's role, language, accessibility or whether it is active.
#[utoipa::path(patch, path = "/api/v1/staff/{login}", tag = "staff", request_body = UpdateStaff,
    params(("login" = String, Path, description = "Login")),
    responses(
        (status = 200, body = StaffMember),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateStaff>,
) -> Result<Json<StaffMember>, ApiError> {
    caller.require(ADMIN)?;
    let p = StaffPatch {
        role: req.role,
        language: req.language,
        accessibility: req.accessibility,
        active: req.active,
    };
    let m = store::update(state.db(), state.now(), caller.login(), &login, &p).await?;
    state.forget_sessions();
    Ok(Json(m))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TemporaryPassword {
    /// Hand it over; it must be changed at the next login.
    pub temporary_password: String,
}

/// Issue a temporary password; the account's sessions end and any lock is lifted.
#[utoipa::path(post, path = "/api/v1/staff/{login}/reset", tag = "staff",
    params(("login" = String, Path, description = "Login")),
    responses(
        (status = 200, body = TemporaryPassword), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn reset(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<TemporaryPassword>, ApiError> {
    caller.require(ADMIN)?;
    let temporary_password = store::reset(state.db(), state.now(), caller.login(), &login).await?;
    state.forget_sessions();
    Ok(Json(TemporaryPassword { temporary_password }))
}

/// Lift a lock after too many wrong passwords: the web login's and the SIP extension's.
#[utoipa::path(post, path = "/api/v1/staff/{login}/unlock", tag = "staff",
    params(("login" = String, Path, description = "Login")),
    responses(
        (status = 204, description = "Unlocked"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn unlock(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(ADMIN)?;
    store::unlock(state.db(), state.now(), caller.login(), &login).await?;
    sip::unlock(state.db(), state.now(), caller.login(), &login).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SipAccountView {
    pub login: String,
    pub extension: String,
    /// Set while five wrong digest answers in a row keep the extension locked.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_until: Option<jiff::Timestamp>,
}

/// A staff member's SIP extension and its lock.
#[utoipa::path(get, path = "/api/v1/staff/{login}/sip", tag = "staff",
    params(("login" = String, Path, description = "Login")),
    responses(
        (status = 200, body = SipAccountView), (status = 400, body = ErrorBody),
        (status = 404, description = "No such member, or no extension", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn get_sip(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<SipAccountView>, ApiError> {
    caller.require(OVERSIGHT)?;
    let login = login.trim().to_lowercase();
    match sip::extension_of(state.db(), &login).await? {
        Some((extension, locked_until)) => Ok(Json(SipAccountView {
            login,
            extension,
            locked_until,
        })),
        None => Err(ApiError::from(sip::SipAccountError::NoStaff(login))),
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSipAccount {
    /// 2-15 digits, e.g. "2001".
    pub extension: String,
    /// 8-128 characters; stored only as digest HA1 values.
    pub password: String,
}

/// Give a staff member a SIP extension and password for their softphone (replaces a
/// previous one and lifts a SIP lock).
#[utoipa::path(put, path = "/api/v1/staff/{login}/sip", tag = "staff", request_body = SetSipAccount,
    params(("login" = String, Path, description = "Login")),
    responses(
        (status = 200, body = SipAccountView),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The extension belongs to another member", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn set_sip(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
    ApiJson(req): ApiJson<SetSipAccount>,
) -> Result<Json<SipAccountView>, ApiError> {
    caller.require(ADMIN)?;
    sip::set_account(
        state.db(),
        state.now(),
        caller.login(),
        &login,
        &req.extension,
        &state.sip_realm,
        &req.password,
    )
    .await?;
    Ok(Json(SipAccountView {
        login: login.trim().to_lowercase(),
        extension: req.extension,
        locked_until: None,
    }))
}
