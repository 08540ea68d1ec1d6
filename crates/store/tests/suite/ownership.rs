//! Who owns a provider's task: the tasks of the stable API, and ids recorded from the
//! pass-through's create answers.

use taskgate_store::TaskStore;

use crate::common::*;

pub async fn a_stored_tasks_provider_task_is_its_tenants_only(store: &dyn TaskStore) {
    let mut rec = record(TENANT, "task_owned", t0());
    rec.task.provider = Some("runway".to_owned());
    rec.task.provider_task_id = Some("up-1".to_owned());
    store.insert(&rec).await.unwrap();

    assert!(store
        .owns_provider_task(TENANT, "runway", "up-1")
        .await
        .unwrap());
    assert!(!store
        .owns_provider_task(OTHER_TENANT, "runway", "up-1")
        .await
        .unwrap());
    assert!(!store
        .owns_provider_task(TENANT, "makevid", "up-1")
        .await
        .unwrap());
    assert!(!store
        .owns_provider_task(TENANT, "runway", "up-2")
        .await
        .unwrap());
}

pub async fn a_provider_task_id_set_by_an_update_is_owned(store: &dyn TaskStore) {
    let mut rec = record(TENANT, "task_late", t0());
    rec.task.provider = Some("makevid".to_owned());
    rec.task.provider_task_id = None;
    store.insert(&rec).await.unwrap();
    assert!(!store
        .owns_provider_task(TENANT, "makevid", "m-9")
        .await
        .unwrap());

    rec.task.provider_task_id = Some("m-9".to_owned());
    store.update(&rec).await.unwrap().unwrap();
    assert!(store
        .owns_provider_task(TENANT, "makevid", "m-9")
        .await
        .unwrap());
}

pub async fn a_passthrough_task_keeps_its_first_owner(store: &dyn TaskStore) {
    store
        .record_passthrough_task("comet-compat", "p-1", TENANT, t0())
        .await
        .unwrap();
    // A second record of the same id, by anyone, changes nothing.
    store
        .record_passthrough_task("comet-compat", "p-1", OTHER_TENANT, t0())
        .await
        .unwrap();
    store
        .record_passthrough_task("comet-compat", "p-1", TENANT, t0())
        .await
        .unwrap();

    assert!(store
        .owns_provider_task(TENANT, "comet-compat", "p-1")
        .await
        .unwrap());
    assert!(!store
        .owns_provider_task(OTHER_TENANT, "comet-compat", "p-1")
        .await
        .unwrap());
    assert!(!store
        .owns_provider_task(TENANT, "comet-official", "p-1")
        .await
        .unwrap());
}

pub async fn a_nul_in_metadata_does_not_stop_ownership(store: &dyn TaskStore) {
    let mut rec = record(TENANT, "task_nul_owner", t0());
    rec.task.provider = Some("runway".to_owned());
    rec.task.provider_task_id = Some("up-nul".to_owned());
    rec.task
        .metadata
        .insert("nul".to_owned(), serde_json::json!("a\u{0}b"));
    store.insert(&rec).await.unwrap();
    assert!(store
        .owns_provider_task(TENANT, "runway", "up-nul")
        .await
        .unwrap());
    assert!(!store
        .owns_provider_task(OTHER_TENANT, "runway", "up-nul")
        .await
        .unwrap());
}
