//! Staff accounts (MISSION §6): roles and interface languages, the password policy
//! ([`password`]) and the login lockout ([`lockout`]). Sans-IO; hashing (argon2), storage and
//! the login endpoint come with the service-desk storage.

pub mod lockout;
pub mod password;
pub mod session;
pub mod store;

use crate::tickets::model::{string_enum, UnknownValue};
use std::fmt;

string_enum!(
    /// What a staff member may do: operators answer (line 1), engineers are lines 2 and 3,
    /// supervisors watch queues and reports, admins manage accounts.
    Role, "role", {
    Operator => "operator",
    Engineer => "engineer",
    Supervisor => "supervisor",
    Admin => "admin",
});

string_enum!(Language, "language", {
    Kk => "kk",
    Ru => "ru",
    En => "en",
});
