//! Callbacks in the REST API (issue #11): the requests with their state, and cancelling one.
//! The list is read from the store; a cancel goes through the callback service, whose book
//! decides (a request already ended cannot be cancelled).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::callback::store::{self, AttemptRow, CallbackRow, StoreError, STATES};
use crate::web::auth::{Caller, DESK, OVERSIGHT};
use crate::web::error::{ApiError, ApiPath, ApiQuery, ErrorBody, Kind};
use crate::web::ApiState;

/// Which callbacks to list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CallbackQuery {
    pub queue: Option<String>,
    /// pending, placing, completed, failed or closed.
    pub state: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A callback request and its attempts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CallbackView {
    #[serde(flatten)]
    pub callback: CallbackRow,
    pub attempt_list: Vec<AttemptRow>,
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(id) => {
            ApiError::new(Kind::NotFound).detail(format!("no callback {id}"))
        }
        StoreError::Db(e) => e.into(),
        other => ApiError::new(Kind::Internal).detail(other.to_string()),
    }
}

/// Callback requests, newest first: pending, being placed, completed, failed or closed.
#[utoipa::path(get, path = "/api/v1/callbacks", tag = "callbacks", params(CallbackQuery),
    responses(
        (status = 200, body = Vec<CallbackRow>),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Json<Vec<CallbackRow>>, ApiError> {
    caller.require(DESK)?;
    if let Some(s) = &q.state {
        if !STATES.contains(&s.as_str()) {
            return Err(ApiError::new(Kind::InvalidField)
                .field("state")
                .detail(STATES.join(", ")));
        }
    }
    let limit = i64::from(q.limit.unwrap_or(50));
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(Kind::InvalidField)
            .field("limit")
            .detail("1 to 200"));
    }
    let rows = store::list(state.db(), q.queue.as_deref(), q.state.as_deref(), limit)
        .await
        .map_err(store_error)?;
    Ok(Json(rows))
}

/// One callback request with its attempts (each with its SIP outcome).
#[utoipa::path(get, path = "/api/v1/callbacks/{id}", tag = "callbacks",
    params(("id" = i64, Path, description = "The callback's id")),
    responses(
        (status = 200, body = CallbackView),
        (status = 404, body = ErrorBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CallbackView>, ApiError> {
    caller.require(DESK)?;
    let callback = store::get(state.db(), id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(Kind::NotFound).detail(format!("no callback {id}")))?;
    let attempt_list = store::attempts(state.db(), id).await.map_err(store_error)?;
    Ok(Json(CallbackView {
        callback,
        attempt_list,
    }))
}

/// Cancel a pending callback (a supervisor or admin): it leaves the queue and is not placed.
#[utoipa::path(delete, path = "/api/v1/callbacks/{id}", tag = "callbacks",
    params(("id" = i64, Path, description = "The callback's id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already completed, failed or closed", body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require(OVERSIGHT)?;
    let row = store::get(state.db(), id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(Kind::NotFound).detail(format!("no callback {id}")))?;
    if !matches!(row.state.as_str(), "pending" | "placing") {
        return Err(ApiError::new(Kind::TransitionNotAllowed)
            .detail(format!("callback {id} is {}", row.state)));
    }
    let Some(service) = &state.callbacks else {
        return Err(ApiError::new(Kind::NotFound).detail("no queue offers callbacks"));
    };
    service
        .cancel(id)
        .await
        .map_err(|why| ApiError::new(Kind::TransitionNotAllowed).detail(why))?;
    Ok(StatusCode::NO_CONTENT)
}
