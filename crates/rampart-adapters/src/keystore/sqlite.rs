//! [`SqliteKeyStore`]: the `rampart_authn::apikey::KeyStore` over an embedded
//! SQLite file (sqlx, no macros). One row per key: the prefix (primary key, so
//! `insert` of an existing prefix is a conflict the engine retries), the keyed
//! hash, and the metadata. The key itself is never stored.

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rampart_authn::BoxFuture;
use rampart_authn::apikey::{ApiKeyRecord, KeyStore, StoreError};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};

use super::schema;
use crate::AdapterError;

/// Most records `list` returns.
pub const MAX_LIST: i64 = 100_000;
/// Longest prefix stored.
pub const MAX_PREFIX_LEN: usize = 64;
/// Largest JSON list (scopes, roles) read back from a row.
const MAX_LIST_JSON: usize = 64 * 1024;

/// The SQLite key store (cheap to clone: the pool is shared).
#[derive(Clone)]
pub struct SqliteKeyStore {
    pool: SqlitePool,
    timeout: Duration,
}

impl std::fmt::Debug for SqliteKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteKeyStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: an existing database keeps its owner's permissions.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

impl SqliteKeyStore {
    /// Opens (creating if missing) the database at `path` and creates or checks
    /// the schema. `field` is the config field path for errors.
    pub async fn open(path: &Path, timeout: Duration, field: &str) -> Result<Self, AdapterError> {
        create_private(path).map_err(|error| {
            AdapterError::invalid(format!("{field}.path"), format!("cannot create: {error}"))
        })?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(timeout)
            .connect_with(options);
        let pool = tokio::time::timeout(timeout, pool)
            .await
            .map_err(|_| AdapterError::StoreTimeout)??;
        tokio::time::timeout(timeout, schema::ensure(&pool))
            .await
            .map_err(|_| AdapterError::StoreTimeout)??;
        Ok(Self { pool, timeout })
    }

    /// What [`open`](Self::open) would find wrong, without creating or
    /// writing anything: an existing database must open read-only with a
    /// schema this build reads; a missing one needs its directory.
    pub async fn check(path: &Path, timeout: Duration, field: &str) -> Result<(), AdapterError> {
        if !path.exists() {
            let dir = path
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            return if dir.is_dir() {
                Ok(())
            } else {
                Err(AdapterError::invalid(
                    format!("{field}.path"),
                    format!("cannot create: directory {} does not exist", dir.display()),
                ))
            };
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(timeout);
        let connect = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options);
        let pool = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| AdapterError::StoreTimeout)??;
        let version = tokio::time::timeout(timeout, schema::version(&pool))
            .await
            .map_err(|_| AdapterError::StoreTimeout)?;
        pool.close().await;
        schema::check_version(version?, field)
    }

    /// An in-memory database (tests, demos).
    pub async fn in_memory() -> Result<Self, AdapterError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection: every in-memory connection would be its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        schema::ensure(&pool).await?;
        Ok(Self {
            pool,
            timeout: Duration::from_secs(5),
        })
    }

    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable("sqlite: timed out".into())),
        }
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    // sqlx messages name the failing statement or constraint, never bound values.
    StoreError::Unavailable(format!("sqlite: {error}"))
}

fn to_db(value: u64) -> i64 {
    // Far-future expiries saturate: i64::MAX seconds is as good as never.
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_db(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Unavailable("sqlite: negative time".into()))
}

fn list_to_db(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|_| StoreError::Unavailable("encode".into()))
}

fn list_from_db(text: &str) -> Result<Vec<String>, StoreError> {
    if text.len() > MAX_LIST_JSON {
        return Err(StoreError::Unavailable("sqlite: oversized record".into()));
    }
    serde_json::from_str(text).map_err(|_| StoreError::Unavailable("sqlite: corrupt record".into()))
}

fn record_from_row(row: &SqliteRow) -> Result<ApiKeyRecord, StoreError> {
    let get_err = |_| StoreError::Unavailable("sqlite: corrupt record".into());
    Ok(ApiKeyRecord {
        prefix: row.try_get("prefix").map_err(get_err)?,
        hash: row.try_get("hash").map_err(get_err)?,
        consumer: row.try_get("consumer").map_err(get_err)?,
        scopes: list_from_db(row.try_get("scopes").map_err(get_err)?)?,
        roles: list_from_db(row.try_get("roles").map_err(get_err)?)?,
        plan: row.try_get("plan").map_err(get_err)?,
        created_at: from_db(row.try_get("created_at").map_err(get_err)?)?,
        expires_at: row
            .try_get::<Option<i64>, _>("expires_at")
            .map_err(get_err)?
            .map(from_db)
            .transpose()?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")
            .map_err(get_err)?
            .map(from_db)
            .transpose()?,
    })
}

fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
        return Err(StoreError::Unavailable("invalid prefix".into()));
    }
    Ok(())
}

type Statement = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// `sql` ([`schema::INSERT`] or [`schema::UPDATE`], whose parameters are
/// numbered alike) with `record` bound.
fn statement(sql: &'static str, record: ApiKeyRecord) -> Result<Statement, StoreError> {
    check_prefix(&record.prefix)?;
    Ok(sqlx::query(sql)
        .bind(record.prefix)
        .bind(record.hash)
        .bind(record.consumer)
        .bind(list_to_db(&record.scopes)?)
        .bind(list_to_db(&record.roles)?)
        .bind(record.plan)
        .bind(to_db(record.created_at))
        .bind(record.expires_at.map(to_db))
        .bind(record.revoked_at.map(to_db)))
}

fn inserted(
    result: Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error>,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(StoreError::Conflict)
        }
        Err(error) => Err(unavailable(error)),
    }
}

fn updated(result: Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error>) -> Result<(), StoreError> {
    if result.map_err(unavailable)?.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

impl KeyStore for SqliteKeyStore {
    fn get(&self, prefix: &str) -> BoxFuture<'_, Result<Option<ApiKeyRecord>, StoreError>> {
        // The trait's future borrows only `self`: own the prefix.
        let prefix = prefix.to_owned();
        Box::pin(self.bounded(async move {
            if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
                return Ok(None);
            }
            let row = sqlx::query(schema::SELECT_ONE)
                .bind(prefix)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            row.as_ref().map(record_from_row).transpose()
        }))
    }

    fn insert(&self, record: ApiKeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.bounded(async move {
            inserted(statement(schema::INSERT, record)?.execute(&self.pool).await)
        }))
    }

    fn update(&self, record: ApiKeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.bounded(async move {
            updated(statement(schema::UPDATE, record)?.execute(&self.pool).await)
        }))
    }

    fn rotate(
        &self,
        new: ApiKeyRecord,
        old: ApiKeyRecord,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.bounded(async move {
            let insert = statement(schema::INSERT, new)?;
            let update = statement(schema::UPDATE, old)?;
            // Dropped without commit (an error, the deadline): rolled back.
            let mut tx = self.pool.begin().await.map_err(unavailable)?;
            inserted(insert.execute(&mut *tx).await)?;
            updated(update.execute(&mut *tx).await)?;
            tx.commit().await.map_err(unavailable)
        }))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ApiKeyRecord>, StoreError>> {
        Box::pin(self.bounded(async move {
            let rows = sqlx::query(schema::SELECT_ALL)
                .bind(MAX_LIST)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            rows.iter().map(record_from_row).collect()
        }))
    }
}

#[cfg(test)]
impl SqliteKeyStore {
    pub(crate) fn pool_for_tests(&self) -> SqlitePool {
        self.pool.clone()
    }
}
