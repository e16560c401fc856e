//! `/api/v1/contacts`: callers and organisations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::contacts::store::{self, Contact, ContactFilter, ContactPatch, NewContact};
use crate::staff::Language;
use crate::web::auth::{Caller, DESK};
use crate::web::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::web::{nullable, ApiState, Listing, PageQuery};

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub phone: String,
    pub iin: Option<String>,
    pub bin: Option<String>,
    pub language: Option<Language>,
    #[serde(default)]
    pub do_not_contact: bool,
}

/// Add a contact.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", request_body = CreateContact,
    responses(
        (status = 201, body = Contact),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateContact>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    caller.require(DESK)?;
    let c = NewContact {
        name: req.name,
        organisation: req.organisation,
        phone: req.phone,
        iin: req.iin,
        bin: req.bin,
        language: req.language,
        do_not_contact: req.do_not_contact,
    };
    let contact = store::create(state.db(), state.now(), caller.login(), c).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    pub phone: Option<String>,
    pub iin: Option<String>,
    pub bin: Option<String>,
    /// Part of the name or organisation.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(minimum = 0)]
    pub offset: Option<u64>,
}

/// Find contacts.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactQuery),
    responses(
        (status = 200, body = Listing<Contact>),
        (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<Json<Listing<Contact>>, ApiError> {
    caller.require(DESK)?;
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .page()?;
    let f = ContactFilter {
        phone: q.phone,
        iin: q.iin,
        bin: q.bin,
        q: q.q,
    };
    Ok(Json(Listing::new(
        store::search(state.db(), &f, page).await?,
        page,
    )))
}

/// One contact.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = i64, Path, description = "Contact id")),
    responses(
        (status = 200, body = Contact), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Contact>, ApiError> {
    caller.require(DESK)?;
    Ok(Json(store::get(state.db(), id).await?))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub organisation: Option<Option<String>>,
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub iin: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub bin: Option<Option<String>>,
    pub language: Option<Language>,
    pub do_not_contact: Option<bool>,
}

/// Change a contact; every change is audited.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", request_body = UpdateContact,
    params(("id" = i64, Path, description = "Contact id")),
    responses(
        (status = 200, body = Contact),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateContact>,
) -> Result<Json<Contact>, ApiError> {
    caller.require(DESK)?;
    let p = ContactPatch {
        name: req.name,
        organisation: req.organisation,
        phone: req.phone,
        iin: req.iin,
        bin: req.bin,
        language: req.language,
        do_not_contact: req.do_not_contact,
    };
    Ok(Json(
        store::update(state.db(), state.now(), caller.login(), id, p).await?,
    ))
}
