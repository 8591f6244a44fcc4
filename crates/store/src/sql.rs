//! A tiny query type that lets one SQL text run on both backends.
//!
//! Queries are written once with `?` placeholders; [`Q`] renders them as `?` for
//! SQLite and `$1, $2, …` for PostgreSQL (diesel's own bind rendering), and marks
//! them cacheable so that each connection prepares a hot statement once. Queries
//! whose text is built at run time (search filters, multi-row inserts of varying
//! length) are marked uncacheable so the statement caches stay bounded.

use diesel::QueryableByName;
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Binary, Bool, Nullable, Text, Untyped};
use diesel::sqlite::{Sqlite, SqliteConnection};
use std::borrow::Cow;

use crate::error::StoreError;

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    I64(i64),
    OptI64(Option<i64>),
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
    Bool(bool),
    Bytes(Cow<'a, [u8]>),
}

impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Val::I64(v)
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        Val::OptI64(v)
    }
}
impl From<bool> for Val<'_> {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Val::Text(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(v: &'a String) -> Self {
        Val::Text(Cow::Borrowed(v.as_str()))
    }
}
impl From<String> for Val<'_> {
    fn from(v: String) -> Self {
        Val::Text(Cow::Owned(v))
    }
}
impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Val::OptText(v.map(Cow::Borrowed))
    }
}
impl<'a> From<&'a Option<String>> for Val<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Val::OptText(v.as_deref().map(Cow::Borrowed))
    }
}
impl From<Option<String>> for Val<'_> {
    fn from(v: Option<String>) -> Self {
        Val::OptText(v.map(Cow::Owned))
    }
}
impl<'a> From<&'a [u8]> for Val<'a> {
    fn from(v: &'a [u8]) -> Self {
        Val::Bytes(Cow::Borrowed(v))
    }
}

/// A query: SQL text with `?` placeholders and the values bound to them, in order.
#[derive(Debug, Clone)]
pub(crate) struct Q<'a> {
    sql: Cow<'a, str>,
    binds: Vec<Val<'a>>,
    cache: bool,
}

impl<'a> Q<'a> {
    /// A query with a fixed text (prepared once per connection).
    pub(crate) fn new(sql: &'a str) -> Self {
        Q {
            sql: Cow::Borrowed(sql),
            binds: Vec::new(),
            cache: true,
        }
    }

    /// A query whose text is built at run time (not kept in the statement cache).
    pub(crate) fn dynamic(sql: String) -> Self {
        Q {
            sql: Cow::Owned(sql),
            binds: Vec::new(),
            cache: false,
        }
    }

    /// Keeps a dynamic query in the statement cache anyway (its text takes only a
    /// few distinct forms).
    pub(crate) fn cached(mut self) -> Self {
        self.cache = true;
        self
    }

    /// Binds the next `?`.
    pub(crate) fn bind(mut self, v: impl Into<Val<'a>>) -> Self {
        self.binds.push(v.into());
        self
    }

    /// Binds the next `?` (in place).
    pub(crate) fn push(&mut self, v: impl Into<Val<'a>>) {
        self.binds.push(v.into());
    }

    fn check(&self) -> QueryResult<()> {
        let n = self.sql.matches('?').count();
        if n == self.binds.len() {
            Ok(())
        } else {
            Err(diesel::result::Error::QueryBuilderError(
                format!(
                    "internal error: query has {n} placeholders but {} values",
                    self.binds.len()
                )
                .into(),
            ))
        }
    }
}

macro_rules! impl_fragment {
    ($db:ty) => {
        impl QueryFragment<$db> for Q<'_> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, $db>) -> QueryResult<()> {
                self.check()?;
                if !self.cache {
                    out.unsafe_to_cache_prepared();
                }
                let mut parts = self.sql.split('?');
                if let Some(first) = parts.next() {
                    out.push_sql(first);
                }
                for (part, val) in parts.zip(self.binds.iter()) {
                    match val {
                        Val::I64(v) => out.push_bind_param::<BigInt, i64>(v)?,
                        Val::OptI64(v) => {
                            out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?
                        }
                        Val::Text(v) => out.push_bind_param::<Text, str>(v.as_ref())?,
                        Val::OptText(v) => {
                            out.push_bind_param::<Nullable<Text>, Option<Cow<'_, str>>>(v)?
                        }
                        Val::Bool(v) => out.push_bind_param::<Bool, bool>(v)?,
                        Val::Bytes(v) => out.push_bind_param::<Binary, [u8]>(v.as_ref())?,
                    }
                    out.push_sql(part);
                }
                Ok(())
            }
        }
    };
}
impl_fragment!(Sqlite);
impl_fragment!(Pg);

impl QueryId for Q<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Q<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Q<'_> {}

/// A row type that can be read from both backends.
pub(crate) trait Row: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static {}
impl<T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static> Row for T {}

/// What the store logic needs from a connection; implemented for both backends so
/// the logic is written once.
pub(crate) trait Exec {
    /// True on PostgreSQL (for the rare dialect difference: row locks).
    fn is_postgres(&self) -> bool;
    /// Runs a statement, returns the number of affected rows.
    fn exec(&mut self, q: Q<'_>) -> Result<usize, StoreError>;
    /// Runs a query, returns its rows.
    fn rows<T: Row>(&mut self, q: Q<'_>) -> Result<Vec<T>, StoreError>;
    /// Runs a query, returns its first row if any.
    fn row<T: Row>(&mut self, q: Q<'_>) -> Result<Option<T>, StoreError> {
        Ok(self.rows(q)?.into_iter().next())
    }
}

macro_rules! impl_exec {
    ($conn:ty, $pg:expr) => {
        impl Exec for $conn {
            fn is_postgres(&self) -> bool {
                $pg
            }
            fn exec(&mut self, q: Q<'_>) -> Result<usize, StoreError> {
                Ok(q.execute(self)?)
            }
            fn rows<T: Row>(&mut self, q: Q<'_>) -> Result<Vec<T>, StoreError> {
                Ok(q.load::<T>(self)?)
            }
        }
    };
}
impl_exec!(SqliteConnection, false);
impl_exec!(PgConnection, true);
