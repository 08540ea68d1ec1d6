"""Drives a client generated from /openapi.json by openapi-python-client, as a user would.

Usage: client_roundtrip.py <folder holding the generated package> <package> <base URL> <key>

Creates a text_to_video task, reads it (long-polling) until it succeeds with a video, finds it
in the list, and cancels a character_performance task (runway can cancel). Every call goes
through the generated functions and models; any mismatch between the document and the
gateway's answers shows up as an exception or a wrong type here. Prints one line per step.
"""

import importlib
import sys
import time


def main() -> None:
    folder, package, base_url, key = sys.argv[1:5]
    sys.path.insert(0, folder)
    client_module = importlib.import_module(package)
    models = importlib.import_module(f"{package}.models")
    # The four operations the issue found missing from the generated client.
    create_task = importlib.import_module(f"{package}.api.tasks.create_task")
    get_task = importlib.import_module(f"{package}.api.tasks.get_task")
    list_tasks = importlib.import_module(f"{package}.api.tasks.list_tasks")
    cancel_task = importlib.import_module(f"{package}.api.tasks.cancel_task")

    client = client_module.AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

    body = models.CreateTextToVideo(
        type_=models.CreateTextToVideoType.TEXT_TO_VIDEO,
        input_=models.TextToVideoInput(prompt="a red fox runs through fresh snow", ratio="16:9"),
        metadata=models.CreateTextToVideoMetadataType0.from_dict({"order": "A-17"}),
    )
    created = create_task.sync_detailed(client=client, body=body, idempotency_key="client-roundtrip-1")
    assert created.status_code == 202, (created.status_code, created.content)
    task = created.parsed
    assert isinstance(task, models.Task), type(task)
    assert created.headers["location"] == f"/v1/tasks/{task.id}", created.headers
    assert task.status in (models.TaskStatus.QUEUED, models.TaskStatus.RUNNING), task.status
    print(f"created {task.id} ({task.status}) at {task.provider}")

    deadline = time.monotonic() + 20
    while task.status != models.TaskStatus.SUCCEEDED:
        assert time.monotonic() < deadline, f"never succeeded: {task.to_dict()}"
        task = get_task.sync(task.id, client=client, wait=5)
        assert isinstance(task, models.Task), task
        assert task.status not in (models.TaskStatus.FAILED, models.TaskStatus.CANCELED), task.to_dict()
    assert task.progress == 1, task.progress
    assert task.outputs and task.outputs[0].kind == models.OutputKind.VIDEO, task.to_dict()
    assert task.outputs[0].url.startswith("http"), task.outputs[0].url
    assert task.metadata.to_dict() == {"order": "A-17"}, task.metadata.to_dict()
    print(f"read {task.id} to {task.status}: {task.outputs[0].url}")

    page = list_tasks.sync(client=client, status=models.TaskStatus.SUCCEEDED, limit=10)
    assert isinstance(page, models.TaskList), page
    assert task.id in [t.id for t in page.data], [t.id for t in page.data]
    print(f"listed {len(page.data)} succeeded task(s)")

    missing = get_task.sync_detailed("task_does_not_exist", client=client)
    assert missing.status_code == 404 and isinstance(missing.parsed, models.ErrorBody), missing
    assert missing.parsed.error.code == "not_found", missing.parsed.to_dict()

    performance = models.CreateCharacterPerformance(
        type_=models.CreateCharacterPerformanceType.CHARACTER_PERFORMANCE,
        input_=models.CharacterPerformanceInput(
            character_url="https://example.com/character.png",
            reference_video_url="https://example.com/reference.mp4",
        ),
        provider="runway",
    )
    to_cancel = create_task.sync(client=client, body=performance)
    assert isinstance(to_cancel, models.Task), to_cancel
    canceled = cancel_task.sync(to_cancel.id, client=client)
    assert isinstance(canceled, models.Task), canceled
    assert canceled.status == models.TaskStatus.CANCELED, canceled.to_dict()
    again = cancel_task.sync_detailed(to_cancel.id, client=client)
    assert again.status_code == 409 and again.parsed.error.code == "conflict", again
    print(f"canceled {canceled.id}")
    print("client roundtrip: ok")


if __name__ == "__main__":
    main()
