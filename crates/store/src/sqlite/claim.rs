//! The claims of due tasks and deliveries (the statements are shared: `crate::sql::claim`,
//! `crate::sql::deliveries`), without row locking: SQLite has none, and each claim is one
//! statement on the single writer, so no two claims interleave.

/// Due tasks, leased to one watcher at a time.
pub(super) const TASKS: &str = claim_due!("");

/// Due deliveries, leased to one sender at a time.
pub(super) const DELIVERIES: &str = claim_deliveries!("");
