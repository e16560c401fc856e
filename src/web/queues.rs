//! Queues and agents in the REST API (issue #10): the live state of every queue and agent,
//! and an agent's state changed by the agent or a supervisor (the console will use it).
//! What a change means is the ACD's; this file maps HTTP to it.

use axum::extract::State;
use axum::Json;

use crate::acd::activity::{self, ActivityLine};
use crate::acd::actor::{AcdSnapshot, AgentChange, AgentView, QueueView};
use crate::registrar::store as sip;
use crate::web::auth::{Caller, DESK, OVERSIGHT};
use crate::web::error::{ApiError, ApiJson, ApiPath, ErrorBody, Kind};
use crate::web::ApiState;

async fn snapshot(state: &ApiState) -> AcdSnapshot {
    match &state.acd {
        Some(acd) => acd.snapshot().await,
        None => AcdSnapshot::default(),
    }
}

/// Every queue now: callers waiting, the longest wait, the estimate for a caller joining now.
#[utoipa::path(get, path = "/api/v1/queues", tag = "queues",
    responses(
        (status = 200, body = Vec<QueueView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn list_queues(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<QueueView>>, ApiError> {
    caller.require(DESK)?;
    Ok(Json(snapshot(&state).await.queues))
}

/// Every agent (a member of a queue) and its state.
#[utoipa::path(get, path = "/api/v1/agents", tag = "queues",
    responses(
        (status = 200, body = Vec<AgentView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn list_agents(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    caller.require(DESK)?;
    Ok(Json(snapshot(&state).await.agents))
}

/// The state an agent asks for.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAgentState {
    /// `available` (logs in, or ends a pause), `paused` or `logged_out`.
    pub state: String,
    /// Why, for `paused` (1-100 characters; default "paused").
    pub reason: Option<String>,
}

/// Change an agent's state: the agent itself, or a supervisor or admin for anyone.
#[utoipa::path(post, path = "/api/v1/agents/{login}/state", tag = "queues", request_body = SetAgentState,
    params(("login" = String, Path, description = "The staff member's login")),
    responses(
        (status = 200, body = AgentView),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, description = "No such member, no extension, or not in any queue", body = ErrorBody),
        (status = 409, description = "Not possible in the agent's state (e.g. pausing while logged out)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn set_agent_state(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
    ApiJson(body): ApiJson<SetAgentState>,
) -> Result<Json<AgentView>, ApiError> {
    caller.require(DESK)?;
    let login = login.trim().to_lowercase();
    if caller.session.login != login {
        caller.require(OVERSIGHT)?;
    }
    let reason = body.reason.unwrap_or_else(|| "paused".into());
    if reason.trim().is_empty() || reason.chars().count() > 100 {
        return Err(ApiError::new(Kind::InvalidField)
            .field("reason")
            .detail("1 to 100 characters"));
    }
    let Some((extension, _)) = sip::extension_of(state.db(), &login).await? else {
        return Err(ApiError::new(Kind::NotFound).detail(format!("{login} has no extension")));
    };
    let Some(acd) = &state.acd else {
        return Err(ApiError::new(Kind::NotFound).detail("no queues are configured"));
    };
    let current = acd
        .snapshot()
        .await
        .agents
        .into_iter()
        .find(|a| a.extension == extension)
        .ok_or_else(|| {
            ApiError::new(Kind::NotFound).detail(format!(
                "extension {extension} is not a member of any queue"
            ))
        })?;
    let Some(change) = AgentChange::to_reach(&body.state, &current.state, reason) else {
        return Err(ApiError::new(Kind::InvalidField)
            .field("state")
            .detail("available, paused or logged_out"));
    };
    acd.agent(&extension, change)
        .await
        .map_err(|why| ApiError::new(Kind::TransitionNotAllowed).detail(why))?;
    let now = acd
        .snapshot()
        .await
        .agents
        .into_iter()
        .find(|a| a.extension == extension)
        .unwrap_or(current);
    Ok(Json(now))
}

/// An agent's activity log, newest first (the last 200 lines): state changes, pause
/// reasons, missed offers.
#[utoipa::path(get, path = "/api/v1/agents/{login}/activity", tag = "queues",
    params(("login" = String, Path, description = "The staff member's login")),
    responses(
        (status = 200, body = Vec<ActivityLine>),
        (status = 404, description = "No such member, or no extension", body = ErrorBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn agent_activity(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<Vec<ActivityLine>>, ApiError> {
    caller.require(DESK)?;
    let login = login.trim().to_lowercase();
    if caller.session.login != login {
        caller.require(OVERSIGHT)?;
    }
    let Some((extension, _)) = sip::extension_of(state.db(), &login).await? else {
        return Err(ApiError::new(Kind::NotFound).detail(format!("{login} has no extension")));
    };
    Ok(Json(
        activity::of_extension(state.db(), &extension, 200).await?,
    ))
}
