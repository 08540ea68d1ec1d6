//! Traffic control: rate budgets (GCRA), circuit breakers, retries with backoff, and the
//! guarded upstream calls that combine them. State here outlives config reloads: a budget
//! or a circuit is kept as long as its settings do not change.

pub mod backoff;
pub mod budget;
pub mod circuit;
pub mod gate;
pub mod guard;
pub mod upstream;
