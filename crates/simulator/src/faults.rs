//! Fault rules: what goes wrong, for which provider and operation, how many times.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::provider::{Op, Provider};

/// One fault rule. On the wire the kind is flattened beside the selectors:
/// `{"provider":"runway","op":"create","kind":"status","code":429,"retry_after_s":2,"count":1}`.
/// `provider` and `op` default to `"*"`; `count` absent = until reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default)]
    pub provider: ProviderFilter,
    #[serde(default)]
    pub op: OpFilter,
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default)]
    pub count: Option<u32>,
}

impl FaultRule {
    /// A rule for one provider and one operation, until reset.
    pub fn on(provider: Provider, op: Op, kind: FaultKind) -> FaultRule {
        FaultRule {
            provider: ProviderFilter::Only(provider),
            op: OpFilter::Only(op),
            kind,
            count: None,
        }
    }

    /// A rule for every provider and operation, until reset.
    pub fn any(kind: FaultKind) -> FaultRule {
        FaultRule {
            provider: ProviderFilter::Any,
            op: OpFilter::Any,
            kind,
            count: None,
        }
    }

    /// The same rule, applied `n` times only.
    pub fn times(mut self, n: u32) -> FaultRule {
        self.count = Some(n);
        self
    }

    fn matches(&self, provider: Provider, op: Op) -> bool {
        let p = match self.provider {
            ProviderFilter::Any => true,
            ProviderFilter::Only(q) => q == provider,
        };
        let o = match self.op {
            OpFilter::Any => true,
            OpFilter::Only(q) => q == op,
        };
        // A word only means something to a poll: elsewhere it must not use up its count.
        let k = !matches!(self.kind, FaultKind::UnknownStatus { .. }) || op == Op::Poll;
        p && o && k
    }
}

/// What happens to a matched request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait, then answer normally.
    Latency { ms: u64 },
    /// Answer this HTTP status with an error body in the dialect's shape (a create is not
    /// performed), with `Retry-After` / `retry-after-ms` when given.
    Status {
        code: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// Never answer (about an hour). A create is performed first; a cancel too.
    Hang,
    /// Wait until the test releases held requests ([`crate::SimServer::release_holds`]),
    /// then answer normally. While waiting the request counts in
    /// [`crate::SimServer::held`], so a test can see it is upstream before acting.
    Hold,
    /// HTTP 200 with a truncated JSON body (a create is not performed).
    MalformedJson,
    /// A poll answers with this status word (creates and cancels do not match it).
    UnknownStatus { word: String },
}

/// Which provider a rule applies to: `"*"` or a provider's wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ProviderFilter {
    #[default]
    Any,
    Only(Provider),
}

impl TryFrom<String> for ProviderFilter {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "*" {
            return Ok(ProviderFilter::Any);
        }
        Provider::parse(&s)
            .map(ProviderFilter::Only)
            .ok_or_else(|| format!("unknown provider {s:?}"))
    }
}

impl From<ProviderFilter> for String {
    fn from(f: ProviderFilter) -> String {
        match f {
            ProviderFilter::Any => "*".to_owned(),
            ProviderFilter::Only(p) => p.as_str().to_owned(),
        }
    }
}

/// Which operation a rule applies to: `"*"`, `"create"`, `"poll"` or `"cancel"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OpFilter {
    #[default]
    Any,
    Only(Op),
}

impl TryFrom<String> for OpFilter {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "*" => Ok(OpFilter::Any),
            "create" => Ok(OpFilter::Only(Op::Create)),
            "poll" => Ok(OpFilter::Only(Op::Poll)),
            "cancel" => Ok(OpFilter::Only(Op::Cancel)),
            _ => Err(format!("unknown op {s:?}")),
        }
    }
}

impl From<OpFilter> for String {
    fn from(f: OpFilter) -> String {
        match f {
            OpFilter::Any => "*",
            OpFilter::Only(Op::Create) => "create",
            OpFilter::Only(Op::Poll) => "poll",
            OpFilter::Only(Op::Cancel) => "cancel",
        }
        .to_owned()
    }
}

/// Rules with their remaining counts; the first matching rule wins and is used up.
#[derive(Debug, Default)]
pub(crate) struct FaultList {
    rules: Vec<(FaultRule, Option<u32>)>,
}

impl FaultList {
    pub(crate) fn new(rules: &[FaultRule]) -> FaultList {
        FaultList {
            rules: rules.iter().map(|r| (r.clone(), r.count)).collect(),
        }
    }

    pub(crate) fn push(&mut self, rule: FaultRule) {
        let count = rule.count;
        self.rules.push((rule, count));
    }

    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Uses one application of the first rule matching `provider` and `op`.
    pub(crate) fn take(&mut self, provider: Provider, op: Op) -> Option<FaultKind> {
        let pos = self
            .rules
            .iter()
            .position(|(r, left)| r.matches(provider, op) && left.is_none_or(|n| n > 0))?;
        let (rule, left) = self.rules.get_mut(pos)?;
        let kind = rule.kind.clone();
        if let Some(n) = left {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.rules.remove(pos);
            }
        }
        Some(kind)
    }
}

/// A fault list shared by all requests; empty lists cost one atomic load.
#[derive(Debug, Default)]
pub(crate) struct SharedFaults {
    len: AtomicUsize,
    list: Mutex<FaultList>,
}

impl SharedFaults {
    pub(crate) fn push(&self, rule: FaultRule) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.push(rule);
        self.len.store(list.len(), Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        *list = FaultList::default();
        self.len.store(0, Ordering::Release);
    }

    /// Drops every `hold` rule; the others stay.
    pub(crate) fn drop_holds(&self) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.rules.retain(|(rule, _)| rule.kind != FaultKind::Hold);
        self.len.store(list.len(), Ordering::Release);
    }

    pub(crate) fn take(&self, provider: Provider, op: Op) -> Option<FaultKind> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let kind = list.take(provider, op);
        self.len.store(list.len(), Ordering::Release);
        kind
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn wire_form_is_flat_and_tagged() {
        let r: FaultRule = serde_json::from_str(
            r#"{"provider":"runway","op":"create","kind":"status","code":429,"retry_after_s":2,"count":1}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            FaultRule::on(
                Provider::Runway,
                Op::Create,
                FaultKind::Status {
                    code: 429,
                    retry_after_s: Some(2),
                    retry_after_ms: None
                }
            )
            .times(1)
        );
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["kind"], "status");
        let r: FaultRule = serde_json::from_str(r#"{"kind":"hang"}"#).unwrap();
        assert_eq!(r, FaultRule::any(FaultKind::Hang));
        assert!(serde_json::from_str::<FaultRule>(r#"{"provider":"x","kind":"hang"}"#).is_err());
    }

    #[test]
    fn counted_rules_are_used_up_and_filters_apply() {
        let q = SharedFaults::default();
        q.push(FaultRule::on(Provider::Makevid, Op::Poll, FaultKind::Hang).times(2));
        assert_eq!(q.take(Provider::Makevid, Op::Create), None);
        assert_eq!(q.take(Provider::Runway, Op::Poll), None);
        assert_eq!(q.take(Provider::Makevid, Op::Poll), Some(FaultKind::Hang));
        assert_eq!(q.take(Provider::Makevid, Op::Poll), Some(FaultKind::Hang));
        assert_eq!(q.take(Provider::Makevid, Op::Poll), None);
    }

    #[test]
    fn uncounted_rules_last_until_cleared() {
        let q = SharedFaults::default();
        q.push(FaultRule::any(FaultKind::MalformedJson));
        for _ in 0..5 {
            assert_eq!(
                q.take(Provider::Runway, Op::Cancel),
                Some(FaultKind::MalformedJson)
            );
        }
        q.clear();
        assert_eq!(q.take(Provider::Runway, Op::Cancel), None);
    }
}
