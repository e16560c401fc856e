//! `/api/v1/tickets`: open, read, search, update, escalate, close, notes, links, history.
//! Ticket work is for operators, engineers and supervisors.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::Timestamp;

use crate::audit::{self, AuditEntry, AuditFilter};
use crate::contacts::store::NewContact;
use crate::staff::Language;
use crate::tickets::change::{LinkKind, TicketPatch};
use crate::tickets::complaint::{ComplaintCategory, ComplaintOutcome};
use crate::tickets::model::{
    Channel, Criticality, Impact, ReasonCode, ServiceLevel, Status, TicketType, Urgency,
};
use crate::tickets::query::{Ticket, TicketFilter, TicketSummary};
use crate::tickets::store::NewTicket;
use crate::web::auth::{Caller, DESK};
use crate::web::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::web::{nullable, ApiState, Listing, PageQuery};

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub phone: String,
    /// 12 digits with a valid check digit.
    pub iin: Option<String>,
    pub organisation: Option<String>,
    /// 12 digits with a valid check digit.
    pub bin: Option<String>,
    pub language: Option<Language>,
}

impl From<ContactInput> for NewContact {
    fn from(c: ContactInput) -> NewContact {
        NewContact {
            name: c.name,
            phone: c.phone,
            iin: c.iin,
            organisation: c.organisation,
            bin: c.bin,
            language: c.language,
            do_not_contact: false,
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    #[serde(rename = "type")]
    pub kind: TicketType,
    pub channel: Channel,
    pub subject: String,
    #[serde(default)]
    pub description: String,
    pub impact: Impact,
    pub urgency: Urgency,
    pub service_level: ServiceLevel,
    /// Incidents only.
    pub criticality: Option<Criticality>,
    /// Complaints only.
    pub complaint_category: Option<ComplaintCategory>,
    pub department: Option<String>,
    pub contact: ContactInput,
}

/// Open a ticket: a registration number, a priority and deadlines.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = CreateTicket,
    responses(
        (status = 201, description = "Opened", body = Ticket),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTicket>,
) -> Result<Response, ApiError> {
    caller.require(DESK)?;
    let opened = state
        .desk
        .open(
            state.now(),
            caller.login(),
            NewTicket {
                kind: req.kind,
                channel: req.channel,
                subject: req.subject,
                description: req.description,
                impact: req.impact,
                urgency: req.urgency,
                service_level: req.service_level,
                criticality: req.criticality,
                complaint_category: req.complaint_category,
                department: req.department,
                contact: req.contact.into(),
            },
        )
        .await?;
    let mut r = (StatusCode::CREATED, Json(opened.ticket)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/tickets/{}", opened.number)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// One or more statuses, comma-separated (`new,in_progress`).
    pub status: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type", inline)]
    pub kind: Option<TicketType>,
    #[param(inline)]
    pub channel: Option<Channel>,
    #[param(minimum = 1, maximum = 5)]
    pub priority: Option<u8>,
    #[param(minimum = 1, maximum = 3)]
    pub line: Option<u8>,
    pub assignee: Option<String>,
    pub contact_id: Option<i64>,
    /// The contact's phone number, exactly.
    pub phone: Option<String>,
    /// Part of the subject or the number.
    pub q: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_from: Option<Timestamp>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_to: Option<Timestamp>,
    /// Only tickets that missed a deadline (true) or none (false).
    pub breached: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub offset: Option<u64>,
}

/// Search tickets: most urgent first, then first come first served.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketQuery),
    responses(
        (status = 200, body = Listing<TicketSummary>),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> Result<Json<Listing<TicketSummary>>, ApiError> {
    caller.require(DESK)?;
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .page()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|s| s.trim().parse::<Status>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| ApiError::invalid("status", e.to_string()))?
        .unwrap_or_default();
    if q.priority.is_some_and(|p| !(1..=5).contains(&p)) {
        return Err(ApiError::invalid("priority", "must be from 1 to 5"));
    }
    if q.line.is_some_and(|l| !(1..=3).contains(&l)) {
        return Err(ApiError::invalid("line", "must be 1, 2 or 3"));
    }
    let filter = TicketFilter {
        status,
        kind: q.kind,
        channel: q.channel,
        priority: q.priority,
        line: q.line,
        assignee: q.assignee,
        contact_id: q.contact_id,
        phone: q.phone,
        q: q.q,
        created_from: q.created_from,
        created_to: q.created_to,
        breached: q.breached,
    };
    Ok(Json(Listing::new(
        state.desk.search(&filter, page).await?,
        page,
    )))
}

fn check_number(number: &str) -> Result<(), ApiError> {
    if number.len() > 32 {
        return Err(ApiError::new(crate::web::error::Kind::NotFound).detail("no such ticket"));
    }
    Ok(())
}

/// A ticket with its contact, escalations, notes and links.
#[utoipa::path(get, path = "/api/v1/tickets/{number}", tag = "tickets",
    params(("number" = String, Path, description = "Registration number, e.g. QN-2026-000123")),
    responses(
        (status = 200, body = Ticket), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
) -> Result<Json<Ticket>, ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    Ok(Json(state.desk.get(&number).await?))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// The version you read; refused with 409 if the ticket changed since.
    pub version: Option<i64>,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub impact: Option<Impact>,
    pub urgency: Option<Urgency>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub eta: Option<Option<String>>,
    /// A staff login, or null to unassign.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    pub complaint_category: Option<ComplaintCategory>,
    pub complaint_outcome: Option<ComplaintOutcome>,
    /// A new status; deferring and refusing need a `reason`, resolving a `resolution`.
    pub status: Option<Status>,
    pub reason: Option<ReasonCode>,
    pub resolution: Option<String>,
}

/// Change fields and/or the status; every change is audited.
#[utoipa::path(patch, path = "/api/v1/tickets/{number}", tag = "tickets", request_body = UpdateTicket,
    params(("number" = String, Path, description = "Registration number")),
    responses(
        (status = 200, body = Ticket),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Changed meanwhile, or a status change the ticket's state does not allow", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateTicket>,
) -> Result<Json<Ticket>, ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    let patch = TicketPatch {
        subject: req.subject,
        description: req.description,
        impact: req.impact,
        urgency: req.urgency,
        department: req.department,
        eta: req.eta,
        assignee: req.assignee,
        complaint_category: req.complaint_category,
        complaint_outcome: req.complaint_outcome,
        status: req.status,
        reason: req.reason,
        resolution: req.resolution,
    };
    Ok(Json(
        state
            .desk
            .update(state.now(), caller.login(), &number, req.version, patch)
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// The next line (one at a time); omit for "the next one".
    #[schema(minimum = 1, maximum = 3)]
    pub to_line: Option<u8>,
    pub reason: String,
    /// The department that takes it over.
    pub department: Option<String>,
    pub version: Option<i64>,
}

/// Hand the ticket to the next support line.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/escalate", tag = "tickets", request_body = EscalateRequest,
    params(("number" = String, Path, description = "Registration number")),
    responses(
        (status = 200, body = Ticket),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Already on line 3, not open, or changed meanwhile", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn escalate(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    ApiJson(req): ApiJson<EscalateRequest>,
) -> Result<Json<Ticket>, ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    Ok(Json(
        state
            .desk
            .escalate(
                state.now(),
                caller.login(),
                &number,
                req.version,
                req.to_line,
                &req.reason,
                req.department,
            )
            .await?,
    ))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Needed when the ticket is not resolved yet.
    pub resolution: Option<String>,
    /// `no_response_from_user` to close a ticket that waited for the caller.
    pub reason: Option<ReasonCode>,
    pub version: Option<i64>,
}

/// Close a ticket (resolving it first when needed).
#[utoipa::path(post, path = "/api/v1/tickets/{number}/close", tag = "tickets", request_body = CloseRequest,
    params(("number" = String, Path, description = "Registration number")),
    responses(
        (status = 200, body = Ticket),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn close(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    ApiJson(req): ApiJson<CloseRequest>,
) -> Result<Json<Ticket>, ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    Ok(Json(
        state
            .desk
            .close(
                state.now(),
                caller.login(),
                &number,
                req.version,
                req.resolution,
                req.reason,
            )
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub body: String,
}

/// Add a note (the actions taken, what the caller said).
#[utoipa::path(post, path = "/api/v1/tickets/{number}/notes", tag = "tickets", request_body = NoteRequest,
    params(("number" = String, Path, description = "Registration number")),
    responses(
        (status = 201, body = Ticket),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn add_note(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    let t = state
        .desk
        .add_note(state.now(), caller.login(), &number, &req.body)
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The other ticket's registration number.
    pub number: String,
    pub kind: LinkKind,
}

/// Link two tickets.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/links", tag = "tickets", request_body = LinkRequest,
    params(("number" = String, Path, description = "Registration number")),
    responses(
        (status = 201, body = Ticket),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Already linked", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn link(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    ApiJson(req): ApiJson<LinkRequest>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    if req.number.len() > 32 {
        return Err(ApiError::invalid("number", "no such ticket"));
    }
    let t = state
        .desk
        .link(state.now(), caller.login(), &number, &req.number, req.kind)
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Every change to a ticket, newest first.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/audit", tag = "tickets",
    params(("number" = String, Path, description = "Registration number"), PageQuery),
    responses(
        (status = 200, body = Listing<AuditEntry>),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Listing<AuditEntry>>, ApiError> {
    caller.require(DESK)?;
    check_number(&number)?;
    let page = q.page()?;
    let ticket = state.desk.get(&number).await?;
    let filter = AuditFilter {
        entity: Some("ticket".into()),
        entity_id: Some(ticket.summary.number),
        ..Default::default()
    };
    Ok(Json(Listing::new(
        audit::list(state.db(), &filter, page).await?,
        page,
    )))
}
