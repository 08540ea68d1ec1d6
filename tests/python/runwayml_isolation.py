"""Runway's own SDK (runwayml), unmodified, through taskgate's pass-through on a provider key
that two tenants share: each creates and reads its own tasks; neither can read or cancel
the other's, nor one created through the stable API by the other.

Environment: TASKGATE_PROXY (http://127.0.0.1:PORT/proxy/runway), KEY_A, KEY_B (tenant
keys), STABLE_TASK (the Runway id of a task tenant A created through /v1/tasks).
"""
import os

import runwayml
from runwayml import RunwayML

base = os.environ["TASKGATE_PROXY"]
a = RunwayML(api_key=os.environ["KEY_A"], base_url=base, max_retries=0)
b = RunwayML(api_key=os.environ["KEY_B"], base_url=base, max_retries=0)


def refused(call, *args):
    """The gateway's own 404, in the contract's error shape."""
    try:
        call(*args)
    except runwayml.NotFoundError as e:
        assert e.body["error"]["code"] == "not_found", e.body
        return
    raise AssertionError(f"{call.__qualname__}{args} went through")


created = a.image_to_video.create(
    model="gen4_turbo", prompt_image="https://img.example/a.jpg", ratio="1280:720"
)
assert a.tasks.retrieve(created.id).id == created.id
refused(b.tasks.retrieve, created.id)
refused(b.tasks.delete, created.id)

stable = os.environ["STABLE_TASK"]
assert a.tasks.retrieve(stable).id == stable
refused(b.tasks.retrieve, stable)

mine = b.image_to_video.create(
    model="gen4_turbo", prompt_image="https://img.example/b.jpg", ratio="1280:720"
)
assert b.tasks.retrieve(mine.id).id == mine.id
refused(a.tasks.retrieve, mine.id)
b.tasks.delete(mine.id)

# Account-wide data is not served on a shared key.
refused(a.organization.retrieve)
print("runwayml: own tasks only, through the shared key")
