//! A tiny query type that lets one SQL text run on both backends.
//!
//! Queries are written once with `?` placeholders; [`Q`] renders them as `?` for
//! SQLite and `$1, $2, …` for PostgreSQL (diesel's own bind rendering), and marks
//! them cacheable so that each connection prepares a hot statement once. Queries
//! whose text is built at run time (search filters) are marked uncacheable so the
//! statement caches stay bounded.
//!
//! Diesel keys its statement cache by the query's *type* when the type has a
//! static [`QueryId`], and otherwise by the SQL text, which it must then render
//! on every execution just to look the statement up (for a 128-row insert that
//! costs about as much as running it). The hot statements of the ingest batch
//! therefore run as [`Keyed`] queries, whose type (a marker per statement shape
//! and row count, see [`MultiRow`]) is the cache key: their text is rendered once
//! per connection, when the statement is prepared.

use diesel::QueryableByName;
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Binary, Bool, Nullable, Text, Untyped};
use diesel::sqlite::{Sqlite, SqliteConnection};
use std::borrow::Cow;
use std::marker::PhantomData;

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
/// The typed ids bind as their number: the one place they become `BIGINT`s
/// going in (rows coming out wrap them where they are read).
macro_rules! id_binds {
    ($($id:ty),*) => {$(
        impl From<$id> for Val<'_> {
            fn from(v: $id) -> Self {
                Val::I64(v.get())
            }
        }
        impl From<Option<$id>> for Val<'_> {
            fn from(v: Option<$id>) -> Self {
                Val::OptI64(v.map(<$id>::get))
            }
        }
    )*};
}
id_binds!(
    crate::ProjectId,
    crate::IssueId,
    crate::DestinationId,
    crate::AlertId,
    crate::DeliveryId,
    crate::UserId
);

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

            fn is_safe_to_cache_prepared(&self, _: &$db) -> QueryResult<bool> {
                // Known without walking the text.
                Ok(self.cache)
            }
        }

        impl<K> QueryFragment<$db> for Keyed<'_, K> {
            fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, $db>) -> QueryResult<()> {
                self.q.walk_ast(out)
            }

            fn is_safe_to_cache_prepared(&self, _: &$db) -> QueryResult<bool> {
                Ok(true)
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

/// A query with a fixed text whose statement-cache key is the marker type `K`
/// (see the module docs). Every query run with the same `K` must have the same
/// text and the same bind types, on a given backend.
pub(crate) struct Keyed<'a, K> {
    q: Q<'a>,
    key: PhantomData<fn() -> K>,
}

impl<K: 'static> QueryId for Keyed<'_, K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K> Query for Keyed<'_, K> {
    type SqlType = Untyped;
}

impl<K, Conn> RunQueryDsl<Conn> for Keyed<'_, K> {}

/// The row counts a multi-row statement is run with: a batch of `n` rows is
/// split into chunks of these sizes (largest first), so each statement shape has
/// only this many texts, each prepared once per connection.
pub(crate) const ROW_COUNTS: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];

/// Splits `n` rows into consecutive ranges whose lengths are in [`ROW_COUNTS`],
/// largest first (at most `n / 128 + 7` ranges).
pub(crate) fn split_rows(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = n - start;
        let len = ROW_COUNTS.into_iter().find(|&c| c <= left)?;
        start += len;
        Some(start - len..start)
    })
}

/// The cache-key marker of statement shape `S` with `N` rows.
pub(crate) struct Rows<S, const N: usize>(PhantomData<fn() -> S>);

/// A statement shape of the form `HEAD row SEP row SEP … row TAIL`, run with a
/// row count from [`ROW_COUNTS`] (declare one with `multi_row!`).
pub(crate) trait MultiRow: Sized + 'static {
    /// Text before the first row.
    const HEAD: &'static str;
    /// One row (with `?` placeholders).
    const ROW: &'static str;
    /// Between rows.
    const SEP: &'static str;
    /// Text after the last row.
    const TAIL: &'static str;
    /// The shape's texts, one per entry of [`ROW_COUNTS`], built once.
    fn texts() -> &'static [String; ROW_COUNTS.len()];

    /// The text with `rows` rows (`rows` from [`ROW_COUNTS`]; other counts give
    /// an empty text, which fails its placeholder check).
    fn text(rows: usize) -> &'static str {
        match ROW_COUNTS.iter().position(|&c| c == rows) {
            Some(i) => Self::texts()[i].as_str(),
            None => "",
        }
    }

    /// Builds the text with `rows` rows.
    fn build(rows: usize) -> String {
        let mut sql = String::with_capacity(
            Self::HEAD.len() + rows * (Self::ROW.len() + Self::SEP.len()) + Self::TAIL.len(),
        );
        sql.push_str(Self::HEAD);
        for j in 0..rows {
            if j > 0 {
                sql.push_str(Self::SEP);
            }
            sql.push_str(Self::ROW);
        }
        sql.push_str(Self::TAIL);
        sql
    }

    /// A query with this shape and `rows` rows, to bind `rows` rows' values to.
    fn query<'a>(rows: usize) -> Q<'a> {
        Q::new(Self::text(rows))
    }

    /// Runs `q` (made by [`MultiRow::query`] with `rows` rows) as a statement.
    fn exec<C: Exec>(c: &mut C, rows: usize, q: Q<'_>) -> Result<usize, StoreError> {
        match rows {
            128 => c.exec_keyed::<Rows<Self, 128>>(q),
            64 => c.exec_keyed::<Rows<Self, 64>>(q),
            32 => c.exec_keyed::<Rows<Self, 32>>(q),
            16 => c.exec_keyed::<Rows<Self, 16>>(q),
            8 => c.exec_keyed::<Rows<Self, 8>>(q),
            4 => c.exec_keyed::<Rows<Self, 4>>(q),
            2 => c.exec_keyed::<Rows<Self, 2>>(q),
            1 => c.exec_keyed::<Rows<Self, 1>>(q),
            _ => c.exec(q),
        }
    }

    /// Runs `q` (made by [`MultiRow::query`] with `rows` rows) as a query.
    fn rows<C: Exec, T: Row>(c: &mut C, rows: usize, q: Q<'_>) -> Result<Vec<T>, StoreError> {
        match rows {
            128 => c.rows_keyed::<Rows<Self, 128>, T>(q),
            64 => c.rows_keyed::<Rows<Self, 64>, T>(q),
            32 => c.rows_keyed::<Rows<Self, 32>, T>(q),
            16 => c.rows_keyed::<Rows<Self, 16>, T>(q),
            8 => c.rows_keyed::<Rows<Self, 8>, T>(q),
            4 => c.rows_keyed::<Rows<Self, 4>, T>(q),
            2 => c.rows_keyed::<Rows<Self, 2>, T>(q),
            1 => c.rows_keyed::<Rows<Self, 1>, T>(q),
            _ => c.rows(q),
        }
    }
}

/// Declares a [`MultiRow`] statement shape: `multi_row!(Name, head, row, sep, tail)`.
macro_rules! multi_row {
    ($name:ident, $head:expr, $row:expr, $sep:expr, $tail:expr) => {
        struct $name;
        impl $crate::sql::MultiRow for $name {
            const HEAD: &'static str = $head;
            const ROW: &'static str = $row;
            const SEP: &'static str = $sep;
            const TAIL: &'static str = $tail;
            fn texts() -> &'static [String; $crate::sql::ROW_COUNTS.len()] {
                static TEXTS: std::sync::OnceLock<[String; $crate::sql::ROW_COUNTS.len()]> =
                    std::sync::OnceLock::new();
                TEXTS.get_or_init(|| $crate::sql::ROW_COUNTS.map(Self::build))
            }
        }
    };
}
pub(crate) use multi_row;

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
    /// Runs a statement cached under the marker type `K` (see [`Keyed`]).
    fn exec_keyed<K: 'static>(&mut self, q: Q<'_>) -> Result<usize, StoreError>;
    /// Runs a query cached under the marker type `K` (see [`Keyed`]).
    fn rows_keyed<K: 'static, T: Row>(&mut self, q: Q<'_>) -> Result<Vec<T>, StoreError>;
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
            fn exec_keyed<K: 'static>(&mut self, q: Q<'_>) -> Result<usize, StoreError> {
                Ok(Keyed::<K> {
                    q,
                    key: PhantomData,
                }
                .execute(self)?)
            }
            fn rows_keyed<K: 'static, T: Row>(&mut self, q: Q<'_>) -> Result<Vec<T>, StoreError> {
                Ok(Keyed::<K> {
                    q,
                    key: PhantomData,
                }
                .load::<T>(self)?)
            }
        }
    };
}
impl_exec!(SqliteConnection, false);
impl_exec!(PgConnection, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rows_covers_every_row_in_order_with_few_chunks() {
        for n in 0..1100 {
            let ranges: Vec<_> = split_rows(n).collect();
            let mut next = 0;
            for r in &ranges {
                assert_eq!(r.start, next);
                assert!(ROW_COUNTS.contains(&r.len()), "n={n}: {r:?}");
                next = r.end;
            }
            assert_eq!(next, n);
            assert!(
                ranges.len() <= n / 128 + 7,
                "n={n}: {} chunks",
                ranges.len()
            );
        }
    }

    multi_row!(
        Pairs,
        "INSERT INTO t (a, b) VALUES ",
        "(?, ?)",
        ", ",
        " RETURNING a"
    );

    #[test]
    fn multi_row_texts_have_one_row_of_placeholders_per_row() {
        assert_eq!(
            Pairs::text(1),
            "INSERT INTO t (a, b) VALUES (?, ?) RETURNING a"
        );
        assert_eq!(
            Pairs::text(2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) RETURNING a"
        );
        for rows in ROW_COUNTS {
            assert_eq!(Pairs::text(rows).matches('?').count(), 2 * rows);
        }
        assert_eq!(Pairs::text(3), "");
    }

    #[derive(QueryableByName)]
    struct A {
        #[diesel(sql_type = BigInt)]
        a: i64,
    }

    #[test]
    fn multi_row_statements_are_prepared_once_per_connection() {
        use diesel::Connection;
        use diesel::connection::{InstrumentationEvent, SimpleConnection};
        use std::sync::{Arc, Mutex};

        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute("CREATE TABLE t (a BIGINT NOT NULL, b TEXT)")
            .unwrap();
        let prepared = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = prepared.clone();
        c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        let mut next = 0;
        for n in [3usize, 3, 5, 2] {
            for range in split_rows(n) {
                let mut q = Pairs::query(range.len());
                for _ in range.clone() {
                    q.push(next);
                    q.push(Some("x"));
                    next += 1;
                }
                let rows: Vec<A> = Pairs::rows(&mut c, range.len(), q).unwrap();
                assert_eq!(rows.len(), range.len());
            }
        }
        // 3 = 2 + 1, 5 = 4 + 1: three shapes, each prepared once.
        let texts = prepared.lock().unwrap().clone();
        assert_eq!(texts.len(), 3, "{texts:?}");
        let rows: Vec<A> = c.rows(Q::new("SELECT a FROM t ORDER BY a")).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.a).collect::<Vec<_>>(),
            (0..next).collect::<Vec<_>>()
        );
    }
}
