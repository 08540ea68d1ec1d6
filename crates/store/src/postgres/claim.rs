//! The claims of due tasks and deliveries (the statements are shared: `crate::sql::claim`,
//! `crate::sql::deliveries`), with PostgreSQL's row locking: each is one statement whose
//! inner `SELECT` locks the rows it picks (`FOR UPDATE`), re-checking them at their latest
//! version, and passes over rows another transaction holds (`SKIP LOCKED`). Two replicas
//! claiming at once get disjoint sets, and neither waits for the other.

/// Due tasks, leased to one watcher at a time.
pub(super) const TASKS: &str = claim_due!(" FOR UPDATE SKIP LOCKED");

/// Due deliveries, so a delivery is attempted by one replica at a time.
pub(super) const DELIVERIES: &str = claim_deliveries!(" FOR UPDATE SKIP LOCKED");
