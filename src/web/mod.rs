//! The REST API under `/api/v1` (axum, JSON), described by the OpenAPI document at
//! `/api/openapi.json`. Thin handlers: they authenticate, check the role, call the desk's
//! stores and cores, and turn refusals into [`error::ApiError`]s.

pub mod audit;
pub mod auth;
pub mod callbacks;
pub mod contacts;
pub mod error;
pub mod openapi;
pub mod queues;
pub mod staff;
pub mod tickets;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;
use jiff::Timestamp;

use crate::clock::Clock;
use crate::db::filter::Page;
use crate::db::Db;
use crate::staff::session::{Logins, SessionInfo};
use crate::staff::Language;
use crate::tickets::store::TicketDesk;
use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub desk: TicketDesk,
    pub clock: Arc<dyn Clock>,
    pub logins: Arc<Logins>,
    /// Sessions seen recently (token hash → session, when loaded): most requests skip the
    /// database lookup. Entries live 30 s; logout and account changes remove them at once.
    pub sessions: Arc<Mutex<HashMap<String, (SessionInfo, Timestamp)>>>,
    pub cookie_secure: bool,
    /// The digest realm SIP passwords are hashed under (`[registrar] realm`).
    pub sip_realm: String,
    /// Language of error messages for a request without a session whose `Accept-Language`
    /// names none of kk, ru, en (`[desk] default_language`).
    pub default_language: Language,
    /// The ACD task, when queues are configured (`/queues`, `/agents`).
    pub acd: Option<crate::acd::actor::AcdHandle>,
    /// The callback service, when a queue offers callbacks (`DELETE /callbacks/{id}`).
    pub callbacks: Option<crate::callback::service::CallbackHandle>,
}

impl ApiState {
    pub fn new(
        desk: TicketDesk,
        clock: Arc<dyn Clock>,
        logins: Logins,
        cookie_secure: bool,
    ) -> ApiState {
        ApiState {
            desk,
            clock,
            logins: Arc::new(logins),
            sessions: Arc::default(),
            cookie_secure,
            sip_realm: "qonyrau".into(),
            default_language: Language::Ru,
            acd: None,
            callbacks: None,
        }
    }

    /// Error messages before login fall back to `lang` (see [`error::localize`]).
    pub fn with_default_language(mut self, lang: Language) -> ApiState {
        self.default_language = lang;
        self
    }

    /// Queues and agents come from this ACD task.
    pub fn with_acd(mut self, acd: Option<crate::acd::actor::AcdHandle>) -> ApiState {
        self.acd = acd;
        self
    }

    /// Callbacks are cancelled through this service.
    pub fn with_callbacks(
        mut self,
        callbacks: Option<crate::callback::service::CallbackHandle>,
    ) -> ApiState {
        self.callbacks = callbacks;
        self
    }

    /// SIP passwords set through the API are hashed under this realm.
    pub fn with_sip_realm(mut self, realm: &str) -> ApiState {
        self.sip_realm = realm.to_string();
        self
    }

    pub fn db(&self) -> &Db {
        &self.desk.db
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Forget cached sessions (after an account changes).
    pub fn forget_sessions(&self) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// `Some(None)` for an explicit `null` (clear the field), `None` when absent.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(d).map(Some)
}

/// `?limit=&offset=` on every listing.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<u64>,
}

impl PageQuery {
    pub fn page(self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=Page::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be from 1 to 200"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > i64::MAX as u64 {
            return Err(ApiError::invalid("offset", "is too large"));
        }
        Ok(Page { limit, offset })
    }
}

/// One page of a listing, with the total for pagination.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

impl<T> Listing<T> {
    pub fn new((items, total): (Vec<T>, u64), page: Page) -> Listing<T> {
        Listing {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route(
            "/session",
            post(auth::login).get(auth::whoami).delete(auth::logout),
        )
        .route("/session/password", post(auth::change_password))
        .route("/tickets", post(tickets::create).get(tickets::search))
        .route(
            "/tickets/{number}",
            get(tickets::get_one).patch(tickets::update),
        )
        .route("/tickets/{number}/escalate", post(tickets::escalate))
        .route("/tickets/{number}/close", post(tickets::close))
        .route("/tickets/{number}/notes", post(tickets::add_note))
        .route("/tickets/{number}/links", post(tickets::link))
        .route("/tickets/{number}/audit", get(tickets::history))
        .route("/contacts", post(contacts::create).get(contacts::search))
        .route(
            "/contacts/{id}",
            get(contacts::get_one).patch(contacts::update),
        )
        .route("/staff", post(staff::create).get(staff::list))
        .route("/staff/{login}", get(staff::get_one).patch(staff::update))
        .route("/staff/{login}/reset", post(staff::reset))
        .route("/staff/{login}/unlock", post(staff::unlock))
        .route(
            "/staff/{login}/sip",
            get(staff::get_sip).put(staff::set_sip),
        )
        .route("/audit", get(audit::list))
        .route("/queues", get(queues::list_queues))
        .route("/agents", get(queues::list_agents))
        .route("/agents/{login}/state", post(queues::set_agent_state))
        .route("/agents/{login}/activity", get(queues::agent_activity))
        .route("/callbacks", get(callbacks::list))
        .route(
            "/callbacks/{id}",
            get(callbacks::get_one).delete(callbacks::cancel),
        )
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", v1)
        .route("/api/openapi.json", get(openapi::document))
        .layer(axum::middleware::from_fn_with_state(
            state.default_language,
            error::localize,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(error::Kind::NotFound)
}
