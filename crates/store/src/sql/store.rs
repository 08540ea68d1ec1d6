//! [`crate::TaskStore`] for the SQL engines, written once.

/// Writes `impl TaskStore for $store` from the shared statements of `crate::sql`. The
/// arguments are what the engines do differently:
/// - `writer`, `reader`: the fields holding the pools writes and reads go to (the same
///   field where an engine has one pool for both);
/// - `insert`, `update`: how a new task is written and a task is compare-and-set, each as a
///   closure-like `|store, record| future`;
/// - `claim_due`, `claim_deliveries`: the claim statements, each written with its row
///   locking (`claim_due!`, `claim_deliveries!`);
/// - `reserve_idempotency`, `claim_dispatch`: the engine's functions for these, called with
///   the writer pool and then the trait method's arguments.
///
/// `close` calls `$store`'s own `close`.
macro_rules! sql_task_store {
    (
        $store:ident {
            writer: $writer:ident,
            reader: $reader:ident,
            insert: |$insert_store:ident, $insert_record:ident| $insert:expr,
            update: |$update_store:ident, $update_record:ident| $update:expr,
            claim_due: $claim_due:expr,
            claim_deliveries: $claim_deliveries:expr,
            reserve_idempotency: $reserve:path,
            claim_dispatch: $claim_dispatch:path $(,)?
        }
    ) => {
        #[async_trait::async_trait]
        impl $crate::TaskStore for $store {
            async fn insert(&self, record: &$crate::TaskRecord) -> Result<(), $crate::StoreError> {
                let ($insert_store, $insert_record) = (self, record);
                $insert.await
            }

            async fn get(
                &self,
                tenant: &str,
                id: &str,
            ) -> Result<Option<$crate::TaskRecord>, $crate::StoreError> {
                $crate::sql::tasks::get(&self.$reader, tenant, id).await
            }

            async fn update(
                &self,
                record: &$crate::TaskRecord,
            ) -> Result<Option<i64>, $crate::StoreError> {
                let ($update_store, $update_record) = (self, record);
                $update.await
            }

            async fn list(
                &self,
                tenant: &str,
                query: &$crate::ListQuery,
            ) -> Result<Vec<$crate::TaskRecord>, $crate::StoreError> {
                $crate::sql::tasks::list(&self.$reader, tenant, query).await
            }

            async fn count_unfinished(&self, tenant: &str) -> Result<u64, $crate::StoreError> {
                $crate::sql::tasks::count_unfinished(&self.$reader, tenant).await
            }

            async fn reserve_idempotency(
                &self,
                tenant: &str,
                key: &str,
                request_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
                ttl: std::time::Duration,
            ) -> Result<$crate::Reservation, $crate::StoreError> {
                $reserve(&self.$writer, tenant, key, request_hash, now, ttl).await
            }

            async fn complete_idempotency(
                &self,
                tenant: &str,
                key: &str,
                task_id: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::idempotency::complete(&self.$writer, tenant, key, task_id).await
            }

            async fn release_idempotency(
                &self,
                tenant: &str,
                key: &str,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::idempotency::release(&self.$writer, tenant, key).await
            }

            async fn claim_due(
                &self,
                owner: &str,
                now: chrono::DateTime<chrono::Utc>,
                lease: std::time::Duration,
                limit: usize,
            ) -> Result<Vec<$crate::TaskRecord>, $crate::StoreError> {
                $crate::sql::claim::due(&self.$writer, $claim_due, owner, now, lease, limit).await
            }

            async fn update_with_deliveries(
                &self,
                record: &$crate::TaskRecord,
                deliveries: &[$crate::Delivery],
            ) -> Result<Option<i64>, $crate::StoreError> {
                $crate::sql::deliveries::update_with_deliveries(&self.$writer, record, deliveries)
                    .await
            }

            async fn claim_deliveries(
                &self,
                owner: &str,
                now: chrono::DateTime<chrono::Utc>,
                lease: std::time::Duration,
                limit: usize,
            ) -> Result<Vec<$crate::Delivery>, $crate::StoreError> {
                $crate::sql::deliveries::claim(
                    &self.$writer,
                    $claim_deliveries,
                    owner,
                    now,
                    lease,
                    limit,
                )
                .await
            }

            async fn finish_delivery(
                &self,
                delivery: &$crate::Delivery,
                outcome: &$crate::DeliveryOutcome,
                hold_progress_until: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::deliveries::finish(
                    &self.$writer,
                    delivery,
                    outcome,
                    hold_progress_until,
                )
                .await
            }

            async fn record_passthrough_task(
                &self,
                provider: &str,
                provider_task_id: &str,
                tenant: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                $crate::sql::ownership::record(
                    &self.$writer,
                    provider,
                    provider_task_id,
                    tenant,
                    at,
                )
                .await
            }

            async fn owns_provider_task(
                &self,
                tenant: &str,
                provider: &str,
                provider_task_id: &str,
            ) -> Result<bool, $crate::StoreError> {
                $crate::sql::ownership::owns(&self.$reader, tenant, provider, provider_task_id)
                    .await
            }

            async fn claim_dispatch(
                &self,
                owner: &str,
                now: chrono::DateTime<chrono::Utc>,
                lease: std::time::Duration,
                policy: &$crate::DispatchPolicy,
                pick: $crate::Pick<'_>,
            ) -> Result<Vec<$crate::TaskRecord>, $crate::StoreError> {
                $claim_dispatch(&self.$writer, owner, now, lease, policy, pick).await
            }

            async fn queue_ahead(
                &self,
                record: &$crate::TaskRecord,
            ) -> Result<$crate::QueueAhead, $crate::StoreError> {
                $crate::sql::queue::ahead(&self.$reader, record).await
            }

            async fn count_waiting(
                &self,
                tenant: Option<&str>,
            ) -> Result<Vec<$crate::WaitingCount>, $crate::StoreError> {
                $crate::sql::queue::count_waiting(&self.$reader, tenant).await
            }

            async fn discard(
                &self,
                tenant: &str,
                id: &str,
                version: i64,
            ) -> Result<bool, $crate::StoreError> {
                $crate::sql::queue::discard(&self.$writer, tenant, id, version).await
            }

            async fn shared_secret(
                &self,
                name: &str,
                candidate: &str,
            ) -> Result<String, $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO gateway_secrets (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name.to_owned())
                .bind(candidate.to_owned())
                .execute(&self.$writer)
                .await
                .map_err($crate::sql::error::from_sqlx)?;
                sqlx::query_scalar("SELECT value FROM gateway_secrets WHERE name = $1")
                    .bind(name.to_owned())
                    .fetch_one(&self.$writer)
                    .await
                    .map_err($crate::sql::error::from_sqlx)
            }

            async fn extend_lease(
                &self,
                tenant: &str,
                id: &str,
                owner: &str,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE tasks SET lease_until = $1 \
                     WHERE id = $2 AND tenant = $3 AND lease_owner = $4",
                )
                .bind($crate::timestamp::to_nanos(until))
                .bind(id.to_owned())
                .bind(tenant.to_owned())
                .bind(owner.to_owned())
                .execute(&self.$writer)
                .await
                .map_err($crate::sql::error::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.$reader)
                    .await
                    .map_err($crate::sql::error::from_sqlx)?;
                Ok(())
            }

            async fn count_unfinished_by_provider(
                &self,
            ) -> Result<Vec<$crate::StatusCount>, $crate::StoreError> {
                $crate::sql::tasks::count_unfinished_by_provider(&self.$reader).await
            }

            async fn close(&self) {
                $store::close(self).await;
            }
        }
    };
}
