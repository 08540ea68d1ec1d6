//! What the SQL engines share: the column list a record is read from, the spelling of
//! "unfinished", and the queue's statements (`queue`). SQLite (through sqlx) and
//! PostgreSQL both take `$n` parameters, so a statement written once serves both where
//! the rest of its syntax agrees.

/// The columns a [`crate::row::TaskRow`] is read from, in a `SELECT` or a `RETURNING`.
macro_rules! task_columns {
    () => {
        "id, tenant, version, callback_url, refreshed_at, next_check_at, lease_owner, \
         lease_until, body, provider, queue_state, priority, queue_head, candidates, input, \
         dispatched_at"
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

pub(crate) mod queue;
