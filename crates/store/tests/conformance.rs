//! The conformance suite run against every engine.
// Helpers here are test code too (clippy.toml allows unwrap only inside #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod suite;

use common::postgres::TestSchema;
use taskgate_store::{MemoryStore, SqliteStore};

/// One `#[tokio::test]` per suite function for an engine. `$open` evaluates to a future of
/// `Some((store, guard))`; the guard lives as long as the test. `None` means the engine's
/// server is unreachable outside CI (see `common::postgres`): the test returns at once.
macro_rules! conformance {
    ($engine:ident, $open:expr) => {
        mod $engine {
            use super::*;
            conformance!(@tests $open;
                tasks::insert_then_get_returns_the_record,
                tasks::full_record_round_trips_exactly,
                tasks::a_shared_secret_is_the_first_candidate,
                tasks::get_is_tenant_scoped,
                tasks::insert_of_a_taken_id_is_duplicate,
                tasks::update_is_compare_and_set,
                tasks::update_keeps_queried_fields_in_sync,
                tasks::update_of_another_tenants_task_is_none,
                tasks::update_of_an_unknown_task_is_none,
                tasks::ping_answers,
                list::list_is_newest_first_with_ties_by_id,
                list::list_returns_at_most_limit,
                list::list_filters_by_status,
                list::list_cursor_pages_through_everything_once,
                list::list_cursor_is_a_position_not_a_task,
                list::list_is_tenant_scoped,
                list::count_unfinished_counts_the_tenants_open_tasks,
                list::count_unfinished_by_provider_groups_open_tasks,
                idempotency::reserve_then_existing_then_complete,
                idempotency::release_frees_the_key,
                idempotency::expired_key_counts_as_absent,
                idempotency::expired_keys_of_others_are_purged_without_harm,
                idempotency::keys_are_per_tenant,
                idempotency::complete_and_release_of_unknown_keys_are_no_ops,
                claim::extend_lease_keeps_the_version,
                claim::claim_due_leases_once_until_expiry,
                claim::claim_due_skips_finished_and_future_tasks,
                claim::claim_due_takes_the_most_overdue_first_up_to_limit,
                claim::claimed_record_is_updated_with_its_new_version,
                deliveries::update_with_deliveries_is_compare_and_set,
                deliveries::claim_deliveries_leases_once_until_expiry,
                deliveries::finish_delivery_retries_or_ends,
                deliveries::a_tasks_deliveries_go_in_order,
                deliveries::finish_delivery_holds_the_next_progress_back,
                ownership::a_stored_tasks_provider_task_is_its_tenants_only,
                ownership::a_provider_task_id_set_by_an_update_is_owned,
                ownership::a_passthrough_task_keeps_its_first_owner,
                ownership::a_nul_in_metadata_does_not_stop_ownership,
                queue::queue_fields_round_trip,
                queue::claim_respects_max_counting_tasks_at_the_provider,
                queue::a_claim_for_full_providers_takes_nothing_even_with_room_elsewhere,
                queue::claim_takes_candidates_in_their_order,
                queue::closed_and_unknown_providers_take_nothing,
                queue::claim_stops_at_its_limit,
                queue::weights_share_single_slots_two_to_one,
                queue::a_tenants_line_is_head_then_priority_then_age,
                queue::a_leased_waiting_task_is_not_claimed,
                queue::a_named_task_is_claimed_alone,
                queue::a_claimed_record_is_dispatching_under_a_lease,
                queue::queue_ahead_counts_older_tasks_for_the_same_providers,
                queue::count_waiting_groups_by_tenant_and_candidates,
                queue::discard_deletes_an_unsent_task_at_its_version,
            );
        }
    };
    (@tests $open:expr; $($group:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let Some((store, _guard)) = $open.await else {
                    return;
                };
                suite::$group::$test(&store).await;
            }
        )*
    };
}

conformance!(memory, async { Some((MemoryStore::new(), ())) });

conformance!(sqlite_memory, async {
    Some((SqliteStore::open_in_memory().await.unwrap(), ()))
});

// A real file: WAL, and reads on other connections than writes.
conformance!(sqlite_file, async {
    let dir = common::TempDir::new("conformance");
    let store = SqliteStore::open(&dir.path().join("tasks.db"))
        .await
        .unwrap();
    Some((store, dir))
});

// A schema of its own in the test database (`TASKGATE_TEST_POSTGRES_URL`).
conformance!(postgres, async {
    let schema = TestSchema::create().await?;
    let store = schema.store().await;
    Some((store, schema))
});
