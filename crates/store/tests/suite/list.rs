//! Listing: order, status filter, cursor paging, tenant scope; counting unfinished tasks.

use taskgate_core::TaskStatus;
use taskgate_store::{Cursor, ListQuery, TaskRecord, TaskStore};

use crate::common::*;

const STATUSES: [TaskStatus; 5] = TaskStatus::ALL;

/// 25 tasks, three per second (so `created_at` ties), inserted in a scrambled order, with
/// every status. Returns them newest first, ties by id descending.
async fn seed(store: &dyn TaskStore, tenant: &str) -> Vec<TaskRecord> {
    let mut records: Vec<TaskRecord> = (0..25)
        .map(|i| {
            let status = STATUSES[i % STATUSES.len()];
            record_with_status(tenant, &format!("task_{i:02}"), at((i / 3) as i64), status)
        })
        .collect();
    for i in (0..25).map(|i| (i * 7) % 25) {
        store.insert(&records[i]).await.unwrap();
    }
    records.sort_by(|a, b| (b.task.created_at, &b.task.id).cmp(&(a.task.created_at, &a.task.id)));
    records
}

fn ids(records: &[TaskRecord]) -> Vec<&str> {
    records.iter().map(|r| r.task.id.as_str()).collect()
}

fn query(status: Option<TaskStatus>, limit: usize, after: Option<&TaskRecord>) -> ListQuery {
    ListQuery {
        status,
        limit,
        after: after.map(|r| Cursor {
            created_at: r.task.created_at,
            id: r.task.id.clone(),
        }),
    }
}

/// Follows the cursor page by page until an empty page.
async fn all_pages(
    store: &dyn TaskStore,
    status: Option<TaskStatus>,
    size: usize,
) -> Vec<TaskRecord> {
    let mut seen: Vec<TaskRecord> = Vec::new();
    loop {
        let page = store
            .list(TENANT, &query(status, size, seen.last()))
            .await
            .unwrap();
        assert!(page.len() <= size);
        if page.is_empty() {
            return seen;
        }
        seen.extend(page);
    }
}

pub async fn list_is_newest_first_with_ties_by_id(store: &dyn TaskStore) {
    let expected = seed(store, TENANT).await;
    let got = store.list(TENANT, &query(None, 100, None)).await.unwrap();
    assert_eq!(ids(&got), ids(&expected));
    assert_eq!(got, expected);
    assert_eq!(
        &ids(&got)[..4],
        ["task_24", "task_23", "task_22", "task_21"]
    );
}

pub async fn list_returns_at_most_limit(store: &dyn TaskStore) {
    let expected = seed(store, TENANT).await;
    let got = store.list(TENANT, &query(None, 5, None)).await.unwrap();
    assert_eq!(ids(&got), ids(&expected[..5]));
    assert!(store
        .list(TENANT, &query(None, 0, None))
        .await
        .unwrap()
        .is_empty());
}

pub async fn list_filters_by_status(store: &dyn TaskStore) {
    let all = seed(store, TENANT).await;
    for status in STATUSES {
        let expected: Vec<TaskRecord> = all
            .iter()
            .filter(|r| r.task.status == status)
            .cloned()
            .collect();
        let got = store
            .list(TENANT, &query(Some(status), 100, None))
            .await
            .unwrap();
        assert_eq!(ids(&got), ids(&expected), "{status}");
    }
}

pub async fn list_cursor_pages_through_everything_once(store: &dyn TaskStore) {
    let all = seed(store, TENANT).await;
    for size in [1, 2, 3, 4, 7, 25, 26] {
        assert_eq!(
            ids(&all_pages(store, None, size).await),
            ids(&all),
            "page size {size}"
        );
    }
    for status in STATUSES {
        let expected: Vec<TaskRecord> = all
            .iter()
            .filter(|r| r.task.status == status)
            .cloned()
            .collect();
        let got = all_pages(store, Some(status), 2).await;
        assert_eq!(ids(&got), ids(&expected), "{status}");
    }
}

pub async fn list_cursor_is_a_position_not_a_task(store: &dyn TaskStore) {
    let all = seed(store, TENANT).await;
    // Between task_10 and task_09 (both at second 3): ids below "task_095" come after.
    let after = ListQuery {
        status: None,
        limit: 3,
        after: Some(Cursor {
            created_at: at(3),
            id: "task_095".to_owned(),
        }),
    };
    let got = store.list(TENANT, &after).await.unwrap();
    assert_eq!(ids(&got), ["task_09", "task_08", "task_07"]);
    // A cursor older than everything gives an empty page.
    let past = ListQuery {
        status: None,
        limit: 3,
        after: Some(Cursor {
            created_at: at(-1),
            id: "task_99".to_owned(),
        }),
    };
    assert!(store.list(TENANT, &past).await.unwrap().is_empty());
    assert_eq!(all.len(), 25);
}

pub async fn list_is_tenant_scoped(store: &dyn TaskStore) {
    let mine = seed(store, TENANT).await;
    store
        .insert(&record(OTHER_TENANT, "task_other", at(100)))
        .await
        .unwrap();
    let got = store.list(TENANT, &query(None, 100, None)).await.unwrap();
    assert_eq!(ids(&got), ids(&mine));
    let theirs = store
        .list(OTHER_TENANT, &query(None, 100, None))
        .await
        .unwrap();
    assert_eq!(ids(&theirs), ["task_other"]);
    assert!(store
        .list("nobody", &query(None, 100, None))
        .await
        .unwrap()
        .is_empty());
}

pub async fn count_unfinished_counts_the_tenants_open_tasks(store: &dyn TaskStore) {
    assert_eq!(store.count_unfinished(TENANT).await.unwrap(), 0);
    let all = seed(store, TENANT).await;
    store
        .insert(&record(OTHER_TENANT, "task_other", t0()))
        .await
        .unwrap();
    let open = all.iter().filter(|r| !r.task.is_terminal()).count() as u64;
    assert_eq!(open, 10);
    assert_eq!(store.count_unfinished(TENANT).await.unwrap(), open);
    assert_eq!(store.count_unfinished(OTHER_TENANT).await.unwrap(), 1);
}

pub async fn count_unfinished_by_provider_groups_open_tasks(store: &dyn TaskStore) {
    assert!(store
        .count_unfinished_by_provider()
        .await
        .unwrap()
        .is_empty());
    let all = seed(store, TENANT).await;
    let mut other = record(OTHER_TENANT, "task_other", t0());
    other.task.provider = Some("runway".to_owned());
    other.task.status = TaskStatus::Running;
    store.insert(&other).await.unwrap();
    let mut counts = store.count_unfinished_by_provider().await.unwrap();
    counts.sort_by_key(|c| (c.provider.clone(), c.status.as_str()));
    let count = |status: TaskStatus| all.iter().filter(|r| r.task.status == status).count() as u64;
    let got: Vec<(String, TaskStatus, u64)> = counts
        .into_iter()
        .map(|c| (c.provider, c.status, c.count))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "makevid".to_owned(),
                TaskStatus::Queued,
                count(TaskStatus::Queued)
            ),
            (
                "makevid".to_owned(),
                TaskStatus::Running,
                count(TaskStatus::Running)
            ),
            ("runway".to_owned(), TaskStatus::Running, 1),
        ]
    );
}
