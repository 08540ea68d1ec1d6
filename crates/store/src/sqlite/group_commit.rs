//! Group commit for inserts: creates that arrive together share one transaction, so one
//! fsync makes a whole batch durable. Each create still gets its answer only after the
//! commit that holds it.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::row::{TaskColumns, INSERT_TASK};
use crate::sql::error::{from_sqlx, is_unique_violation};
use crate::{StoreError, TaskRecord};

/// Most inserts in one transaction.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<(), StoreError>>;

#[derive(Debug, Clone)]
pub(super) struct Inserts {
    queue: mpsc::Sender<(TaskRecord, Reply)>,
}

impl Inserts {
    /// Starts the batching task on the current runtime.
    pub(super) fn spawn(pool: SqlitePool) -> Inserts {
        let (queue, incoming) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, incoming));
        Inserts { queue }
    }

    pub(super) async fn insert(&self, record: &TaskRecord) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the SQLite writer stopped".into());
        self.queue
            .send((record.clone(), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(pool: SqlitePool, mut incoming: mpsc::Receiver<(TaskRecord, Reply)>) {
    while let Some(first) = incoming.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let results = insert_all(&pool, &batch).await;
        for ((_, reply), result) in batch.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

async fn insert_all(
    pool: &SqlitePool,
    batch: &[(TaskRecord, Reply)],
) -> Vec<Result<(), StoreError>> {
    let all = |e: &StoreError| batch.iter().map(|_| Err(copy(e))).collect::<Vec<_>>();
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return all(&from_sqlx(e)),
    };
    let mut results = Vec::with_capacity(batch.len());
    for (record, _) in batch {
        let query = match TaskColumns::of(record) {
            Ok(columns) => columns.bind(sqlx::query(INSERT_TASK)),
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        // A failed INSERT fails only itself; the transaction goes on.
        results.push(match query.execute(&mut *tx).await {
            Ok(_) => Ok(()),
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
