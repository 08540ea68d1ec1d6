//! What the SQL engines share: every statement and its sequence, generic over the sqlx
//! database, and the `impl TaskStore` that runs them ([`sql_task_store!`]). SQLite (through
//! sqlx) and PostgreSQL both take `$n` parameters, so a statement written once serves both
//! where the rest of its syntax agrees; where it does not (row locking), the statement is a
//! macro of the differing clause and each engine writes its own. The engine modules keep
//! only what differs: their pools, how a claim is made exclusive, how a reservation of an
//! idempotency key settles a race, and SQLite's group commit of inserts.

/// The columns a [`crate::row::TaskRow`] is read from, in a `SELECT` or a `RETURNING`.
macro_rules! task_columns {
    () => {
        "id, tenant, version, callback_url, refreshed_at, next_check_at, lease_owner, \
         lease_until, body, provider, queue_state, priority, queue_head, candidates, input, \
         dispatched_at, callback_events, progress_event_at, outputs_copy"
    };
}

/// "Not finished", spelled exactly as the partial indexes' `WHERE` in the migrations:
/// SQLite only uses a partial index when the query repeats that term, and PostgreSQL's
/// planner proves the match from the same literal.
macro_rules! unfinished {
    () => {
        "status NOT IN ('succeeded', 'failed', 'canceled')"
    };
}

/// How many rows a statement wrote. sqlx has no engine-independent accessor: each engine's
/// result type has its own `rows_affected`.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

// The statement macros (`claim_due!`, `claim_deliveries!`, `purge_expired_keys!`) and
// `sql_task_store!` serve the engines, declared after this module.
#[macro_use]
pub(crate) mod claim;
#[macro_use]
pub(crate) mod deliveries;
pub(crate) mod error;
#[macro_use]
pub(crate) mod idempotency;
pub(crate) mod ownership;
pub(crate) mod queue;
#[macro_use]
mod store;
pub(crate) mod tasks;
