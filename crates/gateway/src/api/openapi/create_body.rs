//! The create body's schema: one object per task type, chosen by `type`, each with that
//! type's `input` schema (taskgate-core's `input_schema`), so that a body valid against the
//! document is one the gateway accepts as it stands (config permitting: `provider` and
//! `callback_url` are checked against the tenant's config, which no static document knows).

use std::borrow::Cow;

use taskgate_core::input_schema::{input_schema, input_schema_name, media_url_schema, MEDIA_URL};
use taskgate_core::{Event, TaskType};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, Discriminator, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::tasks::create::{CreateTaskRequest, MAX_METADATA_BYTES, MAX_PRIORITY, MIN_PRIORITY};

/// Component name of the create body for `task_type`: `CreateTextToVideo`, ...
fn variant_name(task_type: TaskType) -> String {
    let input = input_schema_name(task_type);
    format!("Create{}", input.trim_end_matches("Input"))
}

fn nullable(kind: Type) -> SchemaType {
    SchemaType::from_iter([kind, Type::Null])
}

/// The create body of one task type.
fn variant(task_type: TaskType) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("Create a `{task_type}` task.")))
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([task_type.as_str()])),
        )
        .required("type")
        .property("input", Ref::from_schema_name(input_schema_name(task_type)))
        .required("input")
        .property(
            "provider",
            ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .description(Some(
                    "Pins a provider (one of `GET /v1/providers`) instead of the tenant's route \
                     for the type. It must run the type (else `422`) and take every input field \
                     given (else `400` naming the field); without a pin, the route moves on to \
                     a provider that can.",
                )),
        )
        .property(
            "callback_url",
            ObjectBuilder::new()
                .schema_type(nullable(Type::String))
                .description(Some(
                    "Where the gateway POSTs the task when it ends (Standard Webhooks signed). \
                     An absolute http(s) URL whose host the tenant allows; never the gateway's \
                     own listeners, link-local, metadata, unspecified or multicast addresses. \
                     The tenant needs a `webhook_secret`.",
                )),
        )
        .property(
            "callback_events",
            ArrayBuilder::new()
                .schema_type(nullable(Type::Array))
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(Event::ALL.map(Event::as_str))),
                )
                .min_items(Some(1))
                .description(Some(
                    "Which events are POSTed to `callback_url` (only with it): `task.started` \
                     (the task left `queued`), `task.progress` (its state while running, at \
                     most once per `webhooks.progress_every`), and the terminal \
                     `task.succeeded`, `task.failed`, `task.canceled`. Default: the three \
                     terminal ones. Each event has its own `webhook-id`; one task's events \
                     arrive in order.",
                )),
        )
        .property(
            "metadata",
            ObjectBuilder::new()
                .schema_type(nullable(Type::Object))
                .additional_properties(Some(AdditionalProperties::FreeForm(true)))
                .description(Some(format!(
                    "Free-form, returned with the task; at most {MAX_METADATA_BYTES} bytes of JSON."
                ))),
        )
        .property(
            "priority",
            ObjectBuilder::new()
                .schema_type(nullable(Type::Integer))
                .minimum(Some(MIN_PRIORITY))
                .maximum(Some(MAX_PRIORITY))
                .description(Some(
                    "Order among the tenant's tasks waiting in the gateway's queue: higher \
                     leaves first, then older; default 0. Between tenants, freed provider \
                     slots go in weighted fair order.",
                )),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

impl PartialSchema for CreateTaskRequest {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new().description(Some(
            "The task to create: `type` says which, and so which `input` it takes. Unknown \
             fields are refused (`400`), except inside `input.extra` and `metadata`.",
        ));
        let mut discriminator = Discriminator::new("type");
        for task_type in TaskType::ALL {
            let name = variant_name(task_type);
            discriminator.mapping.insert(
                task_type.as_str().to_string(),
                format!("#/components/schemas/{name}"),
            );
            one_of = one_of.item(Ref::from_schema_name(name));
        }
        one_of.discriminator(Some(discriminator)).into()
    }
}

impl ToSchema for CreateTaskRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreateTaskRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((MEDIA_URL.to_string(), media_url_schema().into()));
        for task_type in TaskType::ALL {
            schemas.push((input_schema_name(task_type), input_schema(task_type).into()));
            schemas.push((variant_name(task_type), variant(task_type).into()));
        }
    }
}
