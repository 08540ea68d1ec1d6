//! The webhook events a client can choose with `callback_events`, and which of them a
//! change of a task gives rise to. Kept here, beside the task, because the rule is part of
//! the task's life, not of how deliveries are sent.

use crate::task::TaskStatus;

/// One event a `callback_url` can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The task left `queued` for `running`, or finished with success without ever being
    /// seen running: it ran.
    Started,
    /// Its state changed while running; at most once per `webhooks.progress_every`.
    Progress,
    Succeeded,
    Failed,
    Canceled,
}

impl Event {
    pub const ALL: [Event; 5] = [
        Event::Started,
        Event::Progress,
        Event::Succeeded,
        Event::Failed,
        Event::Canceled,
    ];

    /// The name clients choose it by, and the body's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Started => "task.started",
            Event::Progress => "task.progress",
            Event::Succeeded => "task.succeeded",
            Event::Failed => "task.failed",
            Event::Canceled => "task.canceled",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The event a task ending in `status` gives rise to.
    pub fn terminal(status: TaskStatus) -> Option<Event> {
        match status {
            TaskStatus::Succeeded => Some(Event::Succeeded),
            TaskStatus::Failed => Some(Event::Failed),
            TaskStatus::Canceled => Some(Event::Canceled),
            TaskStatus::Queued | TaskStatus::Running => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Event::Succeeded => 1,
            Event::Failed => 2,
            Event::Canceled => 4,
            Event::Started => 8,
            Event::Progress => 16,
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of events, stored as a small bit mask (the store keeps [`EventSet::bits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSet(u8);

impl Default for EventSet {
    /// The three terminal events: what part 1 sent, and what a create without
    /// `callback_events` gets.
    fn default() -> EventSet {
        EventSet::of(&[Event::Succeeded, Event::Failed, Event::Canceled])
    }
}

impl EventSet {
    pub fn of(events: &[Event]) -> EventSet {
        EventSet(events.iter().fold(0, |bits, e| bits | e.bit()))
    }

    pub fn contains(self, event: Event) -> bool {
        self.0 & event.bit() != 0
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set stored as `bits`; bits of no event are dropped.
    pub fn from_bits(bits: u8) -> EventSet {
        EventSet(bits & Event::ALL.iter().fold(0, |all, e| all | e.bit()))
    }

    /// The names, in [`Event::ALL`]'s order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Event::ALL
            .into_iter()
            .filter(move |e| self.contains(*e))
            .map(Event::as_str)
    }

    /// Parses a create's `callback_events`: known names, at least one.
    pub fn parse(names: &[String]) -> Result<EventSet, EventsError> {
        if names.is_empty() {
            return Err(EventsError::Empty);
        }
        let mut events = Vec::with_capacity(names.len());
        for name in names {
            events.push(Event::parse(name).ok_or_else(|| EventsError::Unknown(name.clone()))?);
        }
        Ok(EventSet::of(&events))
    }

    /// The events of one stored change from `before` to `after` (the statuses), in the
    /// order a receiver must see them. `progress_due` says whether the progress throttle
    /// allows a `task.progress` now; it is only sent for a running task, not beside a
    /// `task.started` (whose body carries the same state), and never with or after the
    /// terminal event.
    pub fn on_change(
        self,
        before: TaskStatus,
        after: TaskStatus,
        progress_due: bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        if before.is_terminal() {
            return events;
        }
        let started = before == TaskStatus::Queued
            && matches!(after, TaskStatus::Running | TaskStatus::Succeeded)
            && self.contains(Event::Started);
        if started {
            events.push(Event::Started);
        }
        if !started
            && after == TaskStatus::Running
            && progress_due
            && self.contains(Event::Progress)
        {
            events.push(Event::Progress);
        }
        if let Some(end) = Event::terminal(after).filter(|e| self.contains(*e)) {
            events.push(end);
        }
        events
    }
}

/// Why a create's `callback_events` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error("callback_events: must name at least one event")]
    Empty,
    #[error("callback_events: unknown event {0:?}; known: task.started, task.progress, task.succeeded, task.failed, task.canceled")]
    Unknown(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    #[test]
    fn default_is_the_terminal_three_and_bits_round_trip() {
        let set = EventSet::default();
        assert_eq!(
            set.names().collect::<Vec<_>>(),
            ["task.succeeded", "task.failed", "task.canceled"]
        );
        assert_eq!(EventSet::from_bits(set.bits()), set);
        assert_eq!(EventSet::from_bits(0xff).bits(), 31);
    }

    #[test]
    fn parse_refuses_unknown_and_empty() {
        assert_eq!(EventSet::parse(&[]), Err(EventsError::Empty));
        assert_eq!(
            EventSet::parse(&["task.done".into()]),
            Err(EventsError::Unknown("task.done".into()))
        );
        let set = EventSet::parse(&["task.progress".into(), "task.progress".into()]).unwrap();
        assert_eq!(set.names().collect::<Vec<_>>(), ["task.progress"]);
    }

    #[test]
    fn changes_give_events_in_order() {
        let all = EventSet::of(&Event::ALL);
        assert_eq!(all.on_change(Queued, Running, true), [Event::Started]);
        assert_eq!(
            all.on_change(Queued, Succeeded, true),
            [Event::Started, Event::Succeeded]
        );
        assert_eq!(all.on_change(Queued, Canceled, true), [Event::Canceled]);
        assert_eq!(all.on_change(Queued, Failed, true), [Event::Failed]);
        assert_eq!(all.on_change(Running, Running, true), [Event::Progress]);
        assert!(all.on_change(Running, Running, false).is_empty());
        assert_eq!(all.on_change(Running, Succeeded, true), [Event::Succeeded]);
        assert!(all.on_change(Succeeded, Succeeded, true).is_empty());
        let failed_only = EventSet::of(&[Event::Failed]);
        assert!(failed_only.on_change(Running, Succeeded, true).is_empty());
        assert!(EventSet::default()
            .on_change(Queued, Running, true)
            .is_empty());
        let progress_only = EventSet::of(&[Event::Progress]);
        assert_eq!(
            progress_only.on_change(Queued, Running, true),
            [Event::Progress]
        );
    }
}
