//! The queue's statements and their sequence, written once for both SQL engines (see the
//! parent module): generic over the sqlx database, so SQLite and PostgreSQL run the same
//! text. An engine only adds what makes a claim exclusive: it opens the transaction (SQLite:
//! `BEGIN IMMEDIATE` on its single writer; PostgreSQL: a transaction that first takes an
//! advisory lock) and runs [`claim`] inside it. The choice itself is
//! [`crate::queue::choose`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::error::from_sqlx;
use crate::queue::{
    candidates_from, candidates_text, choose, DispatchPolicy, Pick, QueueAhead, QueueView,
    SlotLimit, WaitingCount, WaitingTask,
};
use crate::row::TaskRow;
use crate::time::later;
use crate::timestamp::to_nanos;
use crate::{StoreError, TaskRecord};

/// The `queue_tenants` row holding the global clock (no tenant name is empty: the
/// configuration refuses one).
const CLOCK: &str = "";

/// What a claim may take, most of the waiting line: `$1` now, `$2` how many of each
/// tenant's and candidate list's line. Tasks of one tenant with the same candidates can
/// only leave in their order, so no claim of `limit` tasks takes one past the `limit`th
/// of such a line. Each tenant's tasks come in its order (head, priority, age, id).
pub(crate) const WAITING: &str = concat!(
    "SELECT tenant, id, candidates FROM (",
    "SELECT tenant, id, candidates, queue_head, priority, created_at, ",
    "ROW_NUMBER() OVER (PARTITION BY tenant, candidates ",
    "ORDER BY queue_head DESC, priority DESC, created_at, id) AS line ",
    "FROM tasks WHERE queue_state = 'waiting' AND ",
    unfinished!(),
    " AND (lease_until IS NULL OR lease_until < $1)",
    ") AS waiting WHERE line <= $2 ",
    "ORDER BY tenant, queue_head DESC, priority DESC, created_at, id"
);

/// One waiting task, by `$2` id and `$3` tenant, if its lease is free at `$1`.
const WAITING_ONE: &str = concat!(
    "SELECT tenant, id, candidates FROM tasks ",
    "WHERE id = $2 AND tenant = $3 AND queue_state = 'waiting' AND ",
    unfinished!(),
    " AND (lease_until IS NULL OR lease_until < $1)"
);

/// The start of the count of slots in use: unfinished tasks per provider (a dispatching
/// task's `provider` is set); the providers' list follows.
pub(crate) const RUNNING: &str = concat!(
    "SELECT provider, COUNT(*) FROM tasks WHERE ",
    unfinished!(),
    " AND provider IN ("
);

const PASSES: &str = "SELECT tenant, pass FROM queue_tenants";

const STORE_PASS: &str = "INSERT INTO queue_tenants (tenant, pass) VALUES ($1, $2) \
     ON CONFLICT (tenant) DO UPDATE SET pass = excluded.pass";

/// Takes a slot: `$1` provider, `$2` owner, `$3` lease end, `$4` id, `$5` now. Re-checks
/// that the task still waits with a free lease (a plain update may have moved it since it
/// was read). The body stays as it is: its provider is set when a provider accepts it.
const DISPATCH: &str = concat!(
    "UPDATE tasks SET queue_state = 'dispatching', provider = $1, lease_owner = $2, ",
    "lease_until = $3, next_check_at = $3, version = version + 1 ",
    "WHERE id = $4 AND queue_state = 'waiting' AND ",
    unfinished!(),
    " AND (lease_until IS NULL OR lease_until < $5) ",
    "RETURNING ",
    task_columns!()
);

/// `$1` candidates, `$2` created_at, `$3` id, `$4` tenant, `$5` priority: the queued tasks
/// for the same providers that are older than the task, the own tenant's only with at
/// least its priority.
pub(crate) const AHEAD: &str = "SELECT tenant, COUNT(*) FROM tasks \
     WHERE queue_state IN ('waiting', 'dispatching') AND candidates = $1 \
     AND (created_at, id) < ($2, $3) AND (tenant <> $4 OR priority >= $5) \
     GROUP BY tenant";

const COUNT_WAITING: &str = "SELECT tenant, candidates, COUNT(*) FROM tasks \
     WHERE queue_state = 'waiting' GROUP BY tenant, candidates";

const COUNT_WAITING_OF: &str = "SELECT tenant, candidates, COUNT(*) FROM tasks \
     WHERE queue_state = 'waiting' AND tenant = $1 GROUP BY tenant, candidates";

/// `$1` id, `$2` tenant, `$3` version.
const DISCARD: &str = "DELETE FROM tasks \
     WHERE id = $1 AND tenant = $2 AND version = $3 AND provider_task_id IS NULL \
     RETURNING id";

/// A waiting task as a claim reads it.
#[derive(Debug, FromRow)]
pub(crate) struct WaitingRow {
    tenant: String,
    id: String,
    candidates: Option<String>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// [`crate::TaskStore::claim_dispatch`], on `connection` inside the engine's exclusive
/// transaction (the caller commits). Returns the claimed records in the order chosen.
pub(crate) async fn claim<DB>(
    connection: &mut DB::Connection,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    policy: &DispatchPolicy,
    pick: Pick<'_>,
) -> Result<Vec<TaskRecord>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'r> TaskRow: FromRow<'r, DB::Row>,
    for<'r> WaitingRow: FromRow<'r, DB::Row>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
    for<'r> (String, f64): FromRow<'r, DB::Row>,
{
    let now_nanos = to_nanos(now);
    // Counted once for every limited provider: the check reads it, and so does the choice.
    let mut counted = None;
    if let Pick::FairWhenFree { providers, .. } = pick {
        let running = running::<DB>(connection, policy, policy.slots.keys()).await?;
        if !policy.any_free(providers, &running) {
            return Ok(Vec::new());
        }
        counted = Some(running);
    }
    let waiting: Vec<WaitingRow> = match pick {
        Pick::Fair { limit: 0 } | Pick::FairWhenFree { limit: 0, .. } => return Ok(Vec::new()),
        Pick::Fair { limit: n } | Pick::FairWhenFree { limit: n, .. } => {
            sqlx::query_as(WAITING)
                .bind(now_nanos)
                .bind(limit(n))
                .fetch_all(&mut *connection)
                .await
        }
        Pick::Task { tenant, id } => {
            sqlx::query_as(WAITING_ONE)
                .bind(now_nanos)
                .bind(id.to_owned())
                .bind(tenant.to_owned())
                .fetch_all(&mut *connection)
                .await
        }
    }
    .map_err(from_sqlx)?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let waiting: Vec<WaitingTask> = waiting
        .into_iter()
        .map(|row| WaitingTask {
            tenant: row.tenant,
            id: row.id,
            candidates: row
                .candidates
                .as_deref()
                .map(candidates_from)
                .unwrap_or_default(),
        })
        .collect();

    let mut view = QueueView {
        running: match counted {
            Some(running) => running,
            None => {
                running::<DB>(
                    connection,
                    policy,
                    waiting.iter().flat_map(|t| &t.candidates),
                )
                .await?
            }
        },
        waiting,
        ..QueueView::default()
    };
    if !matches!(pick, Pick::Task { .. }) {
        let passes: Vec<(String, f64)> = sqlx::query_as(PASSES)
            .fetch_all(&mut *connection)
            .await
            .map_err(from_sqlx)?;
        for (tenant, pass) in passes {
            if tenant == CLOCK {
                view.clock = pass;
            } else {
                view.passes.insert(tenant, pass);
            }
        }
    }
    let (before, clock) = (view.passes.clone(), view.clock);
    let choice = choose(view, policy, pick);

    let until = to_nanos(later(now, lease));
    let mut claimed = Vec::with_capacity(choice.chosen.len());
    for chosen in choice.chosen {
        let row: Option<TaskRow> = sqlx::query_as(DISPATCH)
            .bind(chosen.provider)
            .bind(owner.to_owned())
            .bind(until)
            .bind(chosen.id)
            .bind(now_nanos)
            .fetch_optional(&mut *connection)
            .await
            .map_err(from_sqlx)?;
        if let Some(row) = row {
            claimed.push(row.into_record()?);
        }
    }
    let changed = choice
        .passes
        .into_iter()
        .filter(|(tenant, pass)| before.get(tenant) != Some(pass));
    let clock = (choice.clock != clock).then(|| (CLOCK.to_owned(), choice.clock));
    for (tenant, pass) in changed.chain(clock) {
        sqlx::query(STORE_PASS)
            .bind(tenant)
            .bind(pass)
            .execute(&mut *connection)
            .await
            .map_err(from_sqlx)?;
    }
    Ok(claimed)
}

/// Slots in use at those of `providers` with a `Max` (the only counts the choice reads).
async fn running<'p, DB>(
    connection: &mut DB::Connection,
    policy: &DispatchPolicy,
    providers: impl Iterator<Item = &'p String>,
) -> Result<BTreeMap<String, u64>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
{
    let limited: BTreeSet<&String> = providers
        .filter(|p| matches!(policy.slots.get(*p), Some(SlotLimit::Max(_))))
        .collect();
    if limited.is_empty() {
        return Ok(Default::default());
    }
    // `$n` placeholders: both engines take them (a QueryBuilder writes each engine's own).
    let list: Vec<String> = (1..=limited.len()).map(|n| format!("${n}")).collect();
    let sql = format!("{RUNNING}{}) GROUP BY provider", list.join(", "));
    let mut query = sqlx::query_as(&sql);
    for provider in limited {
        query = query.bind(provider.clone());
    }
    let rows: Vec<(String, i64)> = query.fetch_all(&mut *connection).await.map_err(from_sqlx)?;
    Ok(rows.into_iter().map(|(p, n)| (p, count(n))).collect())
}

/// [`crate::TaskStore::queue_ahead`].
pub(crate) async fn ahead<'e, DB, E>(
    executor: E,
    record: &TaskRecord,
) -> Result<QueueAhead, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
{
    let Some(entry) = &record.queue else {
        return Ok(QueueAhead::default());
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(AHEAD)
        .bind(candidates_text(&entry.candidates))
        .bind(to_nanos(record.task.created_at))
        .bind(record.task.id.clone())
        .bind(record.tenant.clone())
        .bind(i64::from(entry.priority))
        .fetch_all(executor)
        .await
        .map_err(from_sqlx)?;
    let mut ahead = QueueAhead::default();
    for (tenant, n) in rows {
        if tenant == record.tenant {
            ahead.own = count(n);
        } else {
            ahead.others.push((tenant, count(n)));
        }
    }
    ahead.others.sort();
    Ok(ahead)
}

/// [`crate::TaskStore::count_waiting`], sorted by tenant, then candidate list.
pub(crate) async fn count_waiting<'e, DB, E>(
    executor: E,
    tenant: Option<&str>,
) -> Result<Vec<WaitingCount>, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> (String, Option<String>, i64): FromRow<'r, DB::Row>,
{
    let query = match tenant {
        Some(tenant) => sqlx::query_as(COUNT_WAITING_OF).bind(tenant.to_owned()),
        None => sqlx::query_as(COUNT_WAITING),
    };
    let rows: Vec<(String, Option<String>, i64)> =
        query.fetch_all(executor).await.map_err(from_sqlx)?;
    let mut counts: Vec<WaitingCount> = rows
        .into_iter()
        .map(|(tenant, candidates, n)| WaitingCount {
            tenant,
            candidates: candidates
                .as_deref()
                .map(candidates_from)
                .unwrap_or_default(),
            count: count(n),
        })
        .collect();
    counts.sort_by(|a, b| (&a.tenant, &a.candidates).cmp(&(&b.tenant, &b.candidates)));
    Ok(counts)
}

/// [`crate::TaskStore::discard`].
pub(crate) async fn discard<'e, DB, E>(
    executor: E,
    tenant: &str,
    id: &str,
    version: i64,
) -> Result<bool, StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    let gone: Option<(String,)> = sqlx::query_as(DISCARD)
        .bind(id.to_owned())
        .bind(tenant.to_owned())
        .bind(version)
        .fetch_optional(executor)
        .await
        .map_err(from_sqlx)?;
    Ok(gone.is_some())
}
