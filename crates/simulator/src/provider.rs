//! The four simulated upstreams and the operations a client performs on them.

use serde::{Deserialize, Serialize};

/// One simulated upstream. Its wire name is the snake_case word (`comet_compat`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// CometAPI compatibility format (`/runway/pro/*`, `/runway/feed`).
    CometCompat,
    /// CometAPI official format (`/runwayml/v1/*`).
    CometOfficial,
    /// Runway's own API (`/v1/*`).
    Runway,
    /// makevid (`/api/v1/*_runway`).
    Makevid,
}

impl Provider {
    /// All providers, in counter order.
    pub const ALL: [Provider; 4] = [
        Provider::CometCompat,
        Provider::CometOfficial,
        Provider::Runway,
        Provider::Makevid,
    ];

    /// The wire name, as used in stats, task records and fault rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::CometCompat => "comet_compat",
            Provider::CometOfficial => "comet_official",
            Provider::Runway => "runway",
            Provider::Makevid => "makevid",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether fresh ids answer `task_not_exist` for a while (the CometAPI dialects).
    pub(crate) fn has_not_visible_window(self) -> bool {
        matches!(self, Provider::CometCompat | Provider::CometOfficial)
    }
}

/// What a request does to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Poll,
    Cancel,
}
