"""Schemathesis hooks for the fuzz run of tests/openapi.rs.

The document is the same for every deployment, so it cannot say which `provider` names a
tenant may pin or which `callback_url` hosts it allows: those come from the config. Before
the run, these hooks narrow the two fields to what the test's config allows, so that a body
valid against the narrowed document is one the gateway must accept (and anything else one it
must refuse). Nothing else is changed.

Set by the Rust test:
- TASKGATE_FUZZ_PROVIDERS: JSON, task type -> the providers the fuzz tenant may pin for it.
- TASKGATE_FUZZ_CALLBACK: the URL of a webhook receiver on loopback.
"""

import json
import os
import re

import schemathesis


@schemathesis.hook
def before_load_schema(context, raw_schema):
    providers = json.loads(os.environ["TASKGATE_FUZZ_PROVIDERS"])
    callback = os.environ["TASKGATE_FUZZ_CALLBACK"]
    schemas = raw_schema["components"]["schemas"]
    mapping = schemas["CreateTaskRequest"]["discriminator"]["mapping"]
    for task_type, ref in mapping.items():
        properties = schemas[ref.rsplit("/", 1)[-1]]["properties"]
        properties["provider"]["enum"] = providers.get(task_type, []) + [None]
        properties["callback_url"]["enum"] = [callback, None]
