//! The OpenAPI 3 document at `/api/openapi.json`, generated from the handlers' annotations
//! (utoipa), so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::web::{audit, auth, callbacks, contacts, queues, staff, tickets};

#[derive(OpenApi)]
#[openapi(
    info(title = "Qonyrau service desk API", description = "Tickets, contacts, staff accounts and the audit log. Errors are JSON `{code, message}` with the message in the user's language: the session's interface language; before login (401, failed login, 400/404) the best of kk, ru, en by `Accept-Language` q-values (`ru-RU` counts as `ru`), else the server's `desk.default_language`."),
    paths(
        auth::login, auth::whoami, auth::logout, auth::change_password,
        tickets::create, tickets::search, tickets::get_one, tickets::update, tickets::escalate,
        tickets::close, tickets::add_note, tickets::link, tickets::history,
        contacts::create, contacts::search, contacts::get_one, contacts::update,
        staff::list, staff::create, staff::get_one, staff::update, staff::reset, staff::unlock,
        staff::get_sip, staff::set_sip,
        audit::list,
        queues::list_queues, queues::list_agents, queues::set_agent_state, queues::agent_activity,
        callbacks::list, callbacks::get_one, callbacks::cancel,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::COOKIE))),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
