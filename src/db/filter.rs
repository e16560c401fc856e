//! Building `WHERE` clauses for search endpoints with `$N` placeholders (numbered in order,
//! as both SQLite and PostgreSQL accept), and one page of results.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::db::{Db, DbError};

#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE a = $1 AND b LIKE $2 …`, with the values to bind in order.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    /// Add a clause; each `?` in it becomes the next `$N` and takes the next value.
    pub fn and(&mut self, clause: &str, values: impl IntoIterator<Item = Arg>) -> &mut Self {
        let mut values = values.into_iter();
        let mut out = String::with_capacity(clause.len() + 4);
        for c in clause.chars() {
            if c == '?' {
                self.args
                    .push(values.next().expect("a value for every `?` in the clause"));
                out.push_str(&format!("${}", self.args.len()));
            } else {
                out.push(c);
            }
        }
        self.clauses.push(out);
        self
    }

    pub fn text(&mut self, clause: &str, value: impl Into<String>) -> &mut Self {
        self.and(clause, [Arg::Text(value.into())])
    }

    pub fn int(&mut self, clause: &str, value: i64) -> &mut Self {
        self.and(clause, [Arg::Int(value)])
    }

    /// ` WHERE …` or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The next placeholder number (for LIMIT/OFFSET after the clauses).
    pub fn next_placeholder(&self) -> usize {
        self.args.len() + 1
    }

    /// The number of matching rows in `from` and one page of them, ordered by `order`:
    /// what every listing of the API answers.
    pub async fn page<T>(
        &self,
        db: &Db,
        columns: &str,
        from: &str,
        order: &str,
        page: Page,
        row: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<(Vec<T>, u64), DbError> {
        let total: i64 = self
            .bind(sqlx::query(&format!(
                "SELECT COUNT(*) FROM {from}{}",
                self.sql()
            )))
            .fetch_one(&db.pool)
            .await?
            .try_get(0)?;
        let sql = format!(
            "SELECT {columns} FROM {from}{} ORDER BY {order}{}",
            self.sql(),
            page.sql(self.next_placeholder())
        );
        let rows = page
            .bind(self.bind(sqlx::query(&sql)))
            .fetch_all(&db.pool)
            .await?;
        let items = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    pub fn bind<'q>(
        &self,
        mut q: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern that matches `text` anywhere.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of a listing: at most `limit` (1–200) items from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 50,
            offset: 0,
        }
    }
}

impl Page {
    pub const MAX_LIMIT: u32 = 200;

    /// ` LIMIT $n OFFSET $n+1` and the two values, bound after the filter's.
    fn sql(&self, first_placeholder: usize) -> String {
        format!(
            " LIMIT ${} OFFSET ${}",
            first_placeholder,
            first_placeholder + 1
        )
    }

    fn bind<'q>(&self, q: Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>> {
        q.bind(i64::from(self.limit))
            .bind(i64::try_from(self.offset).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut f = Filter::default();
        f.text("status = ?", "new").int("priority <= ?", 2).and(
            "(a LIKE ? OR b LIKE ?)",
            [Arg::Text("x".into()), Arg::Text("y".into())],
        );
        assert_eq!(
            f.sql(),
            " WHERE status = $1 AND priority <= $2 AND (a LIKE $3 OR b LIKE $4)"
        );
        assert_eq!(f.next_placeholder(), 5);
        assert_eq!(Page::default().sql(5), " LIMIT $5 OFFSET $6");
        assert_eq!(Filter::default().sql(), "");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
