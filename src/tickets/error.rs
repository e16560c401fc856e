//! What a service-desk operation can refuse, for the API to turn into a status and a message.
//! A refusal happens before anything is written, or rolls its transaction back.

use crate::calendar::CalendarError;
use crate::db::DbError;
use crate::tickets::escalation::EscalationError;
use crate::tickets::lifecycle::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A field is wrong.
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    /// Someone else changed it first (optimistic version check), or a duplicate.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Escalation(#[from] EscalationError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match DbError::from(e) {
            DbError::Conflict(m) => StoreError::Conflict(m),
            other => StoreError::Db(other),
        }
    }
}

pub fn invalid(field: &'static str, why: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        why: why.into(),
    }
}

pub fn not_found(what: &'static str, id: impl Into<String>) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.into(),
    }
}

/// Parse a stored enum string; a value the code does not know is a decode error.
pub fn decode<T: std::str::FromStr>(s: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse()
        .map_err(|e: T::Err| sqlx::Error::Decode(Box::new(e)))
}
