//! Contacts in the database: callers with phone numbers, name and/or organisation, IIN or
//! BIN (validated), preferred language and a do-not-contact flag. Every change is audited.
//! Identification numbers never reach a log line unmasked (see [`crate::pii`]).

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit;
use crate::contacts::ident::{Bin, Iin};
use crate::db::filter::{contains_pattern, Filter, Page};
use crate::db::{from_millis, millis, Db};
use crate::staff::Language;
use crate::tickets::error::{decode, invalid, not_found, StoreError};

/// A contact as given when opening a ticket or adding a contact.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub name: Option<String>,
    pub phone: String,
    pub iin: Option<String>,
    pub organisation: Option<String>,
    pub bin: Option<String>,
    pub language: Option<Language>,
    pub do_not_contact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub phone: String,
    pub iin: Option<String>,
    pub bin: Option<String>,
    pub language: Language,
    pub do_not_contact: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Fields to change; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub name: Option<Option<String>>,
    pub organisation: Option<Option<String>>,
    pub phone: Option<String>,
    pub iin: Option<Option<String>>,
    pub bin: Option<Option<String>>,
    pub language: Option<Language>,
    pub do_not_contact: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub phone: Option<String>,
    pub iin: Option<String>,
    pub bin: Option<String>,
    /// Part of the name or organisation.
    pub q: Option<String>,
}

const COLUMNS: &str =
    "id, name, organisation, phone, iin, bin, language, do_not_contact, created_at";

fn from_row(r: &AnyRow) -> Result<Contact, sqlx::Error> {
    Ok(Contact {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        organisation: r.try_get(2)?,
        phone: r.try_get(3)?,
        iin: r.try_get(4)?,
        bin: r.try_get(5)?,
        language: decode(&r.try_get::<String, _>(6)?)?,
        do_not_contact: r.try_get::<i64, _>(7)? != 0,
        created_at: from_millis(r.try_get(8)?),
    })
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub fn check_phone(field: &'static str, phone: &str) -> Result<String, StoreError> {
    let p = phone.trim();
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if !(3..=20).contains(&digits)
        || p.chars().count() > 32
        || !p.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c))
    {
        return Err(invalid(
            field,
            "must be a phone number (3-20 digits, + - ( ) and spaces)",
        ));
    }
    Ok(p.to_string())
}

fn check_text(
    field: &'static str,
    s: Option<String>,
    max: usize,
) -> Result<Option<String>, StoreError> {
    let s = clean(s);
    if s.as_ref().is_some_and(|s| s.chars().count() > max) {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(s)
}

fn check_iin(field: &'static str, s: Option<String>) -> Result<Option<String>, StoreError> {
    clean(s)
        .map(|s| Iin::parse(&s).map(|i| i.as_str().to_string()))
        .transpose()
        .map_err(|e| invalid(field, e.to_string()))
}

fn check_bin(field: &'static str, s: Option<String>) -> Result<Option<String>, StoreError> {
    clean(s)
        .map(|s| Bin::parse(&s).map(|b| b.as_str().to_string()))
        .transpose()
        .map_err(|e| invalid(field, e.to_string()))
}

impl NewContact {
    /// Check and normalise every field; `prefix` names them in errors (`contact.` in a ticket).
    pub fn validated(self, nested: bool) -> Result<NewContact, StoreError> {
        let f =
            |plain: &'static str, in_ticket: &'static str| if nested { in_ticket } else { plain };
        Ok(NewContact {
            name: check_text(f("name", "contact.name"), self.name, 200)?,
            organisation: check_text(
                f("organisation", "contact.organisation"),
                self.organisation,
                200,
            )?,
            phone: check_phone(f("phone", "contact.phone"), &self.phone)?,
            iin: check_iin(f("iin", "contact.iin"), self.iin)?,
            bin: check_bin(f("bin", "contact.bin"), self.bin)?,
            language: self.language,
            do_not_contact: self.do_not_contact,
        })
    }
}

/// Insert a validated contact (inside the caller's transaction).
pub async fn insert(
    conn: &mut AnyConnection,
    at: Timestamp,
    actor: &str,
    c: &NewContact,
) -> Result<Contact, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO contacts (name, organisation, phone, iin, bin, language, do_not_contact, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(c.name.clone())
    .bind(c.organisation.clone())
    .bind(c.phone.clone())
    .bind(c.iin.clone())
    .bind(c.bin.clone())
    .bind(c.language.unwrap_or(Language::Ru).as_str())
    .bind(i64::from(c.do_not_contact))
    .bind(millis(at))
    .bind(millis(at))
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    audit::record(
        conn,
        at,
        actor,
        audit::Change::new("contact", &id.to_string(), "create"),
    )
    .await?;
    Ok(Contact {
        id,
        name: c.name.clone(),
        organisation: c.organisation.clone(),
        phone: c.phone.clone(),
        iin: c.iin.clone(),
        bin: c.bin.clone(),
        language: c.language.unwrap_or(Language::Ru),
        do_not_contact: c.do_not_contact,
        created_at: from_millis(millis(at)),
    })
}

/// The contact a ticket belongs to: the one with this IIN (or BIN), else the one with this
/// phone and no identification number, else a new one.
pub async fn find_or_insert(
    conn: &mut AnyConnection,
    at: Timestamp,
    actor: &str,
    c: &NewContact,
) -> Result<Contact, StoreError> {
    let (column, value) = match (&c.iin, &c.bin) {
        (Some(iin), _) => ("iin = $1", iin.clone()),
        (None, Some(bin)) => ("bin = $1", bin.clone()),
        (None, None) => (
            "phone = $1 AND iin IS NULL AND bin IS NULL",
            c.phone.clone(),
        ),
    };
    let found = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM contacts WHERE {column} ORDER BY id LIMIT 1"
    ))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(r) => Ok(from_row(&r)?),
        None => insert(conn, at, actor, c).await,
    }
}

pub async fn get(db: &Db, id: i64) -> Result<Contact, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM contacts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| not_found("contact", id.to_string()))?;
    Ok(from_row(&row)?)
}

/// The phones (as stored) of every contact who asked not to be contacted: outbound calls
/// (callbacks) check a number against them.
pub async fn do_not_contact_phones(db: &Db) -> Result<Vec<String>, crate::db::DbError> {
    let rows =
        sqlx::query("SELECT phone FROM contacts WHERE do_not_contact <> 0 AND phone IS NOT NULL")
            .fetch_all(&db.pool)
            .await?;
    let mut phones = Vec::with_capacity(rows.len());
    for r in rows {
        phones.push(r.try_get::<String, _>(0)?);
    }
    Ok(phones)
}

pub async fn create(
    db: &Db,
    at: Timestamp,
    actor: &str,
    c: NewContact,
) -> Result<Contact, StoreError> {
    let c = c.validated(false)?;
    let mut tx = db.write().await?;
    let contact = insert(tx.conn(), at, actor, &c).await?;
    tx.commit().await?;
    Ok(contact)
}

pub async fn search(
    db: &Db,
    f: &ContactFilter,
    page: Page,
) -> Result<(Vec<Contact>, u64), StoreError> {
    let mut w = Filter::default();
    if let Some(p) = &f.phone {
        w.text("phone = ?", p.trim());
    }
    if let Some(i) = &f.iin {
        w.text("iin = ?", i.trim());
    }
    if let Some(b) = &f.bin {
        w.text("bin = ?", b.trim());
    }
    if let Some(q) = &f.q {
        let p = contains_pattern(q.trim());
        w.and(
            "(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(organisation) LIKE ? ESCAPE '\\')",
            [
                crate::db::filter::Arg::Text(p.clone()),
                crate::db::filter::Arg::Text(p),
            ],
        );
    }
    Ok(w.page(db, COLUMNS, "contacts", "id", page, from_row)
        .await?)
}

/// Apply a patch: every changed field gets an audit row with before and after.
pub async fn update(
    db: &Db,
    at: Timestamp,
    actor: &str,
    id: i64,
    p: ContactPatch,
) -> Result<Contact, StoreError> {
    // Validate everything first: a bad request changes nothing.
    let name = p.name.map(|v| check_text("name", v, 200)).transpose()?;
    let organisation = p
        .organisation
        .map(|v| check_text("organisation", v, 200))
        .transpose()?;
    let phone = p.phone.map(|v| check_phone("phone", &v)).transpose()?;
    let iin = p.iin.map(|v| check_iin("iin", v)).transpose()?;
    let bin = p.bin.map(|v| check_bin("bin", v)).transpose()?;
    let mut tx = db.write().await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM contacts WHERE id = $1"))
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| not_found("contact", id.to_string()))?;
    let old = from_row(&row)?;
    let mut new = old.clone();
    if let Some(v) = name {
        new.name = v;
    }
    if let Some(v) = organisation {
        new.organisation = v;
    }
    if let Some(v) = phone {
        new.phone = v;
    }
    if let Some(v) = iin {
        new.iin = v;
    }
    if let Some(v) = bin {
        new.bin = v;
    }
    if let Some(v) = p.language {
        new.language = v;
    }
    if let Some(v) = p.do_not_contact {
        new.do_not_contact = v;
    }
    let changes: Vec<(&str, Option<String>, Option<String>)> = [
        ("name", old.name.clone(), new.name.clone()),
        (
            "organisation",
            old.organisation.clone(),
            new.organisation.clone(),
        ),
        ("phone", Some(old.phone.clone()), Some(new.phone.clone())),
        ("iin", old.iin.clone(), new.iin.clone()),
        ("bin", old.bin.clone(), new.bin.clone()),
        (
            "language",
            Some(old.language.to_string()),
            Some(new.language.to_string()),
        ),
        (
            "do_not_contact",
            Some(old.do_not_contact.to_string()),
            Some(new.do_not_contact.to_string()),
        ),
    ]
    .into_iter()
    .filter(|(_, b, a)| b != a)
    .collect();
    if changes.is_empty() {
        return Ok(old);
    }
    sqlx::query(
        "UPDATE contacts SET name = $1, organisation = $2, phone = $3, iin = $4, bin = $5, language = $6, \
         do_not_contact = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(new.name.clone())
    .bind(new.organisation.clone())
    .bind(new.phone.clone())
    .bind(new.iin.clone())
    .bind(new.bin.clone())
    .bind(new.language.as_str())
    .bind(i64::from(new.do_not_contact))
    .bind(millis(at))
    .bind(id)
    .execute(tx.conn())
    .await?;
    let entity_id = id.to_string();
    for (field, before, after) in changes {
        audit::record(
            tx.conn(),
            at,
            actor,
            audit::Change {
                entity: "contact",
                entity_id: &entity_id,
                action: "update",
                field: Some(field),
                before,
                after,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}
