//! sqlx errors as store errors. They describe what failed (the server's message, a refused
//! connection, a timeout); none of them carries the connection URL or its password.

use sqlx::migrate::MigrateError;

use crate::StoreError;

/// A row that does not decode is `Corrupt`; anything else is `Unavailable`. (A unique
/// violation is only expected from an insert, which checks for it itself.)
pub(crate) fn from_sqlx(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(error.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

pub(crate) fn from_migrate(error: MigrateError) -> StoreError {
    StoreError::Unavailable(format!("schema migration failed: {error}"))
}

/// sqlx reads each engine's own code for it (PostgreSQL `23505`, SQLite's constraint codes).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
