//! `/api/v1/audit`: the audit log, for supervisors and admins.

use axum::extract::State;
use axum::Json;
use jiff::Timestamp;

use crate::audit::{self, AuditEntry, AuditFilter};
use crate::web::auth::{Caller, OVERSIGHT};
use crate::web::error::{ApiError, ApiQuery, ErrorBody};
use crate::web::{ApiState, Listing, PageQuery};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `ticket`, `contact`, `staff` or `session`.
    pub entity: Option<String>,
    /// A ticket number, contact id or login.
    pub entity_id: Option<String>,
    /// Who made the change (a login, or `system`).
    pub actor: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub offset: Option<u64>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, body = Listing<AuditEntry>),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Listing<AuditEntry>>, ApiError> {
    caller.require(OVERSIGHT)?;
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .page()?;
    let f = AuditFilter {
        entity: q.entity,
        entity_id: q.entity_id,
        actor: q.actor,
        from: q.from,
        to: q.to,
    };
    Ok(Json(Listing::new(
        audit::list(state.db(), &f, page).await?,
        page,
    )))
}
