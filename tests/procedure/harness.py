"""The workflow harness: a real DBOS on SQLite executing runs against in-memory doubles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oob.commands import Control
from oob.config import Config, parse
from oob.store import Run, RunRequest, Store
from tests.many import many_pipelines
from tests.procedure.doubles import FIX, Builds, Chat, Code, Probe

ROLES = """[roles]
deployers = ["operator"]
approvers = ["po"]
status_overriders = ["operator"]
fix_confirmers = ["helpdesk", "operator"]
allow_self_approval = false
allow_asserted_identity = true
"""


def make_config(preset_text: str, tmp_path: Path, others: dict[str, str] | None = None) -> Config:
    """The preset with the harness's roles, and the pipelines `others` (`tests.many`) too."""
    start = preset_text.index("[roles]")
    end = preset_text.index("# How oob knows")
    text = preset_text[:start] + ROLES + "\n" + preset_text[end:]
    text = text.replace("require_confirmation = true", "require_confirmation = false")
    if others:
        text = many_pipelines(text, others)
    return parse(text, tmp_path / "oob.toml")


@dataclass
class Harness:
    config: Config
    store: Store
    control: Control
    builds: Builds
    code: Code
    chat: Chat
    probe: Probe
    postmortems: list[str]

    def start(
        self, config: Config | None = None, *, pipeline: str | None = None, **kwargs: object
    ) -> Run:
        """Start a run of `config` (the harness's own by default), of its pipeline `pipeline`
        (its one by default)."""
        config = config or self.config
        request = RunRequest(
            pipeline=pipeline or config.pipeline.name,
            requester="operator",
            fix_sha=FIX,
            symptoms="editors cannot log in",
            cause="bad module update",
            fix_summary="revert the module",
            affects="all editors",
            release_wait_minutes=15,
        )
        return self.control.start(config, request, **kwargs)  # type: ignore[arg-type]

    def wait_for(self, run_id: str, predicate: Callable[[Run], bool]) -> Run:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = self.store.run(run_id)
            if predicate(run):
                return run
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} stuck in {self.store.run(run_id).state}")

    def end(self, run_id: str) -> Run:
        """The run once its workflow has returned (after the postmortem step)."""
        from dbos import DBOS

        DBOS.retrieve_workflow(run_id).get_result()
        return self.store.run(run_id)

    def kinds(self, run_id: str) -> list[str]:
        return [e.kind for e in self.store.events(run_id)]


def approve(harness: Harness, run: Run) -> None:
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.approve(run.id, "po")
