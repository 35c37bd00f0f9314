"""The sandbox's Jenkins JSON has every field a real Jenkins sent (api4jenkins' recordings under
`tests/fixtures/recorded/jenkins/`), with the same JSON types, at every level of nesting that
both have. Extra fields are allowed (plugins add their own); missing ones are not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import TOKEN, Clients

RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded" / "jenkins"
AUTH = ("oob", TOKEN)
RELEASE = "/jenkins/job/deploys/job/cms-auto-deploy"
PROD = "deploys/cms-vagov-prod"


def kind(value: Any) -> str:
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else type(value).__name__
    )


def missing(real: Any, ours: Any, where: str = "$") -> list[str]:
    """Where `ours` lacks a field of `real` or has another type (null matches anything)."""
    if real is None or ours is None:
        return []
    if kind(real) != kind(ours):
        return [f"{where}: {kind(ours)} instead of {kind(real)}"]
    found: list[str] = []
    if isinstance(real, dict):
        for key, value in real.items():
            if key not in ours:
                found.append(f"{where}.{key}: missing")
            else:
                found += missing(value, ours[key], f"{where}.{key}")
    if isinstance(real, list) and real and ours and all(isinstance(x, dict) for x in real):
        # Lists of objects (actions, causes): each recorded `_class` present must match ours.
        for item in real:
            same = [o for o in ours if o.get("_class") == item.get("_class")]
            if same:
                found += missing(item, same[0], f"{where}[{item.get('_class')}]")
    return found


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return data


def get(clients: Clients, path: str) -> dict[str, Any]:
    answer = clients.http.get(path, auth=AUTH)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_queue_items_and_the_run_they_become(clients: Clients) -> None:
    server = clients.jenkins
    first = server.build_job(PROD, {"release_tag": "cms/v0.0.1"})
    waiting = get(clients, f"/jenkins/queue/item/{first}/api/json")
    assert missing(recorded("queue_waitingitem.json"), waiting) == []
    clients.sandbox.advance(5)
    buildable = get(clients, f"/jenkins/queue/item/{first}/api/json")
    assert missing(recorded("queue_buildableitem.json"), buildable) == []
    clients.sandbox.advance(5)
    second = server.build_job(PROD, {"release_tag": "cms/v0.0.2"})
    clients.sandbox.advance(10)
    blocked = get(clients, f"/jenkins/queue/item/{second}/api/json")
    assert missing(recorded("queue_blockeditem.json"), blocked) == []
    left = get(clients, f"/jenkins/queue/item/{first}/api/json")
    assert missing(recorded("queue_leftitem.json"), left) == []
    number = left["executable"]["number"]
    run = get(clients, f"/jenkins/job/deploys/job/cms-vagov-prod/{number}/api/json")
    assert missing(recorded("run_workflowrun.json"), run) == []


@pytest.mark.parametrize(
    ("name", "path"),
    [("job_pipeline.json", f"{RELEASE}/api/json"),
     ("job_folder.json", "/jenkins/job/deploys/api/json"),
     ("jenkins_crumb.json", "/jenkins/crumbIssuer/api/json")],
)  # fmt: skip
def test_jobs_folders_and_the_crumb(clients: Clients, name: str, path: str) -> None:
    real = recorded(name)
    # The recorded job's `builds` carry `building`, which a plain api/json does not list for
    # each build: that recording asked for more (a `tree=`); the other build links compare.
    real.pop("builds", None)
    assert missing(real, get(clients, path)) == []
