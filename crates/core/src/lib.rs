//! taskgate's domain: the normalized task model, validated create inputs, and the provider
//! adapters behind one trait. Knows nothing of HTTP servers, tenants or stores.

pub mod events;
pub mod input;
#[cfg(feature = "openapi")]
pub mod input_schema;
pub mod progress;
pub mod providers;
pub mod ratio;
pub mod secret;
pub mod snapshot;
pub mod task;
pub mod upstream_error;
pub mod wire;

pub use events::{Event, EventSet, EventsError};
pub use input::{InputError, InputSpec, TaskInput};
pub use progress::Progress;
pub use providers::{
    adapter_for, read_bounded, AdapterSettings, Capabilities, CreateError, CreateOptions,
    PassthroughRoute, Provider, ProviderAdapter, ProviderKind, ProviderSettings, WireAnswer,
    WireRequest,
};

pub use secret::Secret;
pub use snapshot::{status_from_word, Snapshot};
pub use task::{Output, OutputKind, QueuePlace, Task, TaskError, TaskObject, TaskStatus, TaskType};
pub use upstream_error::{FailureClass, UpstreamError};
