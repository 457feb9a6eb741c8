//! The embedded schema and its statements. `PRAGMA user_version` records the
//! schema version: 0 (new file) is created, 1 is used, anything newer is refused
//! rather than misread.

use sqlx::SqlitePool;

use crate::AdapterError;

/// The schema version this code reads and writes.
pub const VERSION: i64 = 1;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS rampart_api_keys (
    prefix     TEXT    NOT NULL PRIMARY KEY CHECK (length(prefix) BETWEEN 1 AND 64),
    hash       BLOB    NOT NULL,
    consumer   TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    roles      TEXT    NOT NULL,
    plan       TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT";

pub(crate) const SELECT_ONE: &str = "SELECT prefix, hash, consumer, scopes, roles, plan, \
     created_at, expires_at, revoked_at FROM rampart_api_keys WHERE prefix = ?1";

pub(crate) const SELECT_ALL: &str = "SELECT prefix, hash, consumer, scopes, roles, plan, \
     created_at, expires_at, revoked_at FROM rampart_api_keys \
     ORDER BY created_at, prefix LIMIT ?1";

pub(crate) const INSERT: &str = "INSERT INTO rampart_api_keys \
     (prefix, hash, consumer, scopes, roles, plan, created_at, expires_at, revoked_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// A revocation already stored is kept: a rotation that read the record
/// before a concurrent `keys revoke` and writes it back must not clear it.
/// Its parameters are numbered as [`INSERT`]'s, so one binding serves both.
pub(crate) const UPDATE: &str = "UPDATE rampart_api_keys SET hash = ?2, consumer = ?3, \
     scopes = ?4, roles = ?5, plan = ?6, created_at = ?7, expires_at = ?8, \
     revoked_at = COALESCE(revoked_at, ?9) WHERE prefix = ?1";

/// Creates the schema in a new database, or checks an existing one's version.
pub(crate) async fn ensure(pool: &SqlitePool) -> Result<(), AdapterError> {
    let mut tx = pool.begin().await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    if version == 0 {
        sqlx::query(CREATE).execute(&mut *tx).await?;
        // PRAGMA takes no bound parameters; the value is our constant.
        sqlx::query("PRAGMA user_version = 1")
            .execute(&mut *tx)
            .await?;
    } else {
        check_version(version, "key_store")?;
    }
    tx.commit().await?;
    Ok(())
}

/// The schema version of a database (0: none yet), read without writing.
pub(crate) async fn version(pool: &SqlitePool) -> Result<i64, AdapterError> {
    Ok(sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await?)
}

/// Refuses a schema newer than this build's (0, none yet, is fine: it is
/// made at the first start). `field` is the section's field path.
pub(crate) fn check_version(version: i64, field: &str) -> Result<(), AdapterError> {
    match version {
        0 | VERSION => Ok(()),
        newer => Err(AdapterError::invalid(
            format!("{field}.path"),
            format!("database schema version {newer} is newer than this build's {VERSION}"),
        )),
    }
}
