//! Group commit for task writes: inserts and compare-and-set updates that arrive together
//! share one transaction, so one fsync makes a whole batch durable. Each write still gets
//! its answer only after the commit that holds it, and writes apply in arrival order.
//! A create costs two task writes (stored first, then its provider's task id), so without
//! this each would pay an fsync of its own on the single writer.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::row::{TaskColumns, INSERT_TASK, UPDATE_TASK};
use crate::sql::error::{from_sqlx, is_unique_violation};
use crate::{StoreError, TaskRecord};

/// Most writes in one transaction.
const MAX_BATCH: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    /// Compare-and-set on the record's `version`.
    Update,
}

/// Rows the statement changed.
type Reply = oneshot::Sender<Result<u64, StoreError>>;

#[derive(Debug, Clone)]
pub(super) struct Writes {
    queue: mpsc::Sender<(Kind, TaskRecord, Reply)>,
}

impl Writes {
    /// Starts the batching task on the current runtime.
    pub(super) fn spawn(pool: SqlitePool) -> Writes {
        let (queue, incoming) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, incoming));
        Writes { queue }
    }

    pub(super) async fn insert(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.write(Kind::Insert, record).await.map(|_| ())
    }

    /// As [`crate::TaskStore::update`].
    pub(super) async fn update(&self, record: &TaskRecord) -> Result<Option<i64>, StoreError> {
        let changed = self.write(Kind::Update, record).await?;
        Ok((changed == 1).then_some(record.version + 1))
    }

    async fn write(&self, kind: Kind, record: &TaskRecord) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the SQLite writer stopped".into());
        self.queue
            .send((kind, record.clone(), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(pool: SqlitePool, mut incoming: mpsc::Receiver<(Kind, TaskRecord, Reply)>) {
    while let Some(first) = incoming.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let results = write_all(&pool, &batch).await;
        for ((_, _, reply), result) in batch.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

async fn write_all(
    pool: &SqlitePool,
    batch: &[(Kind, TaskRecord, Reply)],
) -> Vec<Result<u64, StoreError>> {
    let all = |e: &StoreError| batch.iter().map(|_| Err(copy(e))).collect::<Vec<_>>();
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return all(&from_sqlx(e)),
    };
    let mut results = Vec::with_capacity(batch.len());
    for (kind, record, _) in batch {
        let statement = match kind {
            Kind::Insert => INSERT_TASK,
            Kind::Update => UPDATE_TASK,
        };
        let query = match TaskColumns::of(record) {
            Ok(columns) => columns.bind(sqlx::query(statement)),
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        // A failed statement fails only itself; the transaction goes on.
        results.push(match query.execute(&mut *tx).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
            Err(e) => Err(from_sqlx(e)),
        });
    }
    if let Err(e) = tx.commit().await {
        return all(&from_sqlx(e));
    }
    results
}

fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Duplicate => StoreError::Duplicate,
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}
