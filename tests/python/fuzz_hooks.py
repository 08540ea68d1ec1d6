"""Schemathesis hooks for the fuzz run of tests/openapi.rs: the facts the document cannot state.

The document is the same for every deployment, so it cannot say which `provider` names a
tenant may pin or which `callback_url` hosts it allows (the config says), nor which `after`
cursors exist (only ones the gateway handed out). These hooks supply exactly that and change
nothing else:
- before the run, `provider` and `callback_url` of every create body are narrowed to what the
  test's config allows, so a body valid against the narrowed document is one the gateway must
  accept, and anything else one it must refuse; the pass-through's `provider` likewise, so
  the run reaches the providers (the simulator) and not only the gateway's `404`;
- a positive `GET /v1/tasks` case gets a cursor of an earlier page for `after` (or none);
  negative cases keep theirs, which the gateway must refuse.

Set by the Rust test:
- TASKGATE_FUZZ_PROVIDERS: JSON, task type -> the providers the fuzz tenant may pin for it.
- TASKGATE_FUZZ_CALLBACK: the URL of a webhook receiver on loopback.
"""

import json
import os

import schemathesis
from schemathesis import GenerationMode

# `next_cursor`s of the pages the gateway answered, newest last.
CURSORS = []


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
    names = sorted({name for pins in providers.values() for name in pins})
    for operation in raw_schema["paths"]["/proxy/{provider}/{path}"].values():
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "provider":
                parameter["schema"]["enum"] = names


def _is_list(case):
    return case.operation.method.upper() == "GET" and case.operation.path == "/v1/tasks"


@schemathesis.hook
def after_call(context, case, response):
    if _is_list(case) and response.status_code == 200:
        cursor = response.json().get("next_cursor")
        if cursor:
            CURSORS.append(cursor)


@schemathesis.hook
def map_case(context, case):
    if not _is_list(case) or case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    query = case.query or {}
    if "after" in query and query["after"] not in CURSORS:
        if CURSORS:
            query["after"] = CURSORS[-1]
        else:
            del query["after"]
    return case
