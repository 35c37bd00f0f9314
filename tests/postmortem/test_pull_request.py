"""The postmortem pull request against the sandbox's GitHub, over a real socket: on the run's
branch, never the base; idempotent; recovering from a lost response; and `oob postmortem`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina

from oob import events
from oob import postmortem as pm
from oob.adapters.github import GitHubCodeHost
from oob.config import Config
from oob.errors import GitHubError
from oob.sandbox.faults import FaultPlan
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from tests.conftest import RunCli
from tests.postmortem.conftest import denied_run, resolved_run

TOKEN = "sandbox-token"


@pytest.fixture(autouse=True)
def no_waiting() -> Iterator[None]:
    # Retries happen as in production, without their waits.
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(Options(time_scale=0)) as server:
        yield server


def code_host_of(sandbox: SandboxServer) -> GitHubCodeHost:
    return GitHubCodeHost(
        f"{sandbox.url}/github",
        sandbox.state()["repo"],
        TOKEN,
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=2,
    )


@pytest.fixture
def code_host(sandbox: SandboxServer) -> Iterator[GitHubCodeHost]:
    host = code_host_of(sandbox)
    yield host
    host.close()


def file_on(sandbox: SandboxServer, repo: str, path: str, ref: str) -> str | None:
    """The file as GitHub's contents API gives it, read with a plain HTTP client."""
    response = httpx.get(
        f"{sandbox.url}/github/repos/{repo}/contents/{path}",
        params={"ref": ref},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return base64.b64decode(response.json()["content"]).decode()


def file_in_world(sandbox: SandboxServer, path: str, branch: str) -> str | None:
    """The file as the sandbox holds it: for checks that must not meet its injected faults."""
    with sandbox.world.session() as world:
        repo = world.postmortems
        data = repo.commits[repo.branches[branch]].tree.get(path)
    return None if data is None else data.decode()


def postmortem_writes(sandbox: SandboxServer, repo: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.ledger() if f"/repos/{repo}/" in e["path"]]


def pr_events(store: Store, run_id: str) -> list[dict[str, Any]]:
    return [e.details for e in store.events(run_id) if e.kind == events.KIND_PULL_REQUEST]


def test_the_pull_request_is_on_the_runs_branch_never_the_base(
    store: Store, config: Config, sandbox: SandboxServer, code_host: GitHubCodeHost
) -> None:
    repo, base = config.postmortem.repository, config.postmortem.base_branch
    assert sandbox.state()["postmortem_repo"] == {
        "repo": repo,
        "base_branch": base,
        "branches": [base],
        "pulls": [],
    }
    run_id = resolved_run(store)
    draft = pm.build_draft(store, config, run_id)

    pr = pm.open_pull_request(store, config, code_host, draft, actor="cms-oncall", source="cli")

    branch = f"oob/postmortem-{run_id}"
    assert (pr.head, pr.base) == (branch, base)
    state = sandbox.state()["postmortem_repo"]
    assert state["branches"] == [base, branch]
    assert state["pulls"] == [
        {
            "number": pr.number,
            "title": "Postmortem: Editors cannot log in with PIV",
            "head": branch,
            "base": base,
            "state": "open",
        }
    ]
    assert file_on(sandbox, repo, draft.repository_path, branch) == draft.text
    assert file_on(sandbox, repo, draft.repository_path, base) is None
    writes = postmortem_writes(sandbox, repo)
    assert [e["method"] for e in writes] == ["POST", "PUT", "POST"]
    assert all(e["summary"].get("branch", branch) == branch for e in writes)
    assert pr_events(store, run_id) == [
        {
            "repository": repo,
            "branch": branch,
            "base": base,
            "path": draft.repository_path,
            "number": pr.number,
            "url": pr.url,
        }
    ]


def test_a_first_pull_request_takes_four_requests(
    store: Store, config: Config, sandbox: SandboxServer, code_host: GitHubCodeHost
) -> None:
    # The base's tip, the branch, the file and the pull request: the run's new branch has
    # neither the file nor a pull request, so neither is looked for before it is made.
    run_id = resolved_run(store)
    draft = pm.build_draft(store, config, run_id)
    before = sandbox.world.requests["github"]
    pm.open_pull_request(store, config, code_host, draft, actor="oob", source="worker")
    assert sandbox.world.requests["github"] - before == 4
    assert [e["method"] for e in postmortem_writes(sandbox, config.postmortem.repository)] == [
        "POST",
        "PUT",
        "POST",
    ]


def test_a_second_call_updates_the_same_branch_and_pull_request(
    store: Store, config: Config, sandbox: SandboxServer, code_host: GitHubCodeHost
) -> None:
    repo = config.postmortem.repository
    run_id = resolved_run(store)
    first = pm.open_pull_request(
        store, config, code_host, pm.build_draft(store, config, run_id), actor="a", source="cli"
    )
    # The draft now tells of its own pull request (an event of the timeline): the file changes.
    second_draft = pm.build_draft(store, config, run_id)
    assert f"- This postmortem's pull request: {first.url}" in second_draft.text
    second = pm.open_pull_request(store, config, code_host, second_draft, actor="a", source="cli")

    assert second == first
    state = sandbox.state()["postmortem_repo"]
    assert len(state["pulls"]) == 1
    assert len(state["branches"]) == 2
    branch = pm.branch_name(run_id)
    assert file_on(sandbox, repo, second_draft.repository_path, branch) == second_draft.text
    writes = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in postmortem_writes(sandbox, repo)]
    file_name = second_draft.repository_path.rsplit("/", 1)[-1]
    assert writes == [("POST", "refs"), ("PUT", file_name), ("POST", "pulls"), ("PUT", file_name)]
    assert len(pr_events(store, run_id)) == 1

    # A third call with nothing new changes nothing at all.
    pm.open_pull_request(
        store, config, code_host, pm.build_draft(store, config, run_id), actor="a", source="cli"
    )
    assert len(postmortem_writes(sandbox, repo)) == 4


def test_a_lost_response_is_made_good_by_the_next_call(store: Store, config: Config) -> None:
    # Seed 12 at this rate loses the answer to the pull request's creation (GitHub opened it,
    # oob heard a 502): the next call must find that pull request, not open another.
    repo = config.postmortem.repository
    run_id = resolved_run(store)
    plan = FaultPlan(rate=0.5, seed=12, slow_seconds=3)
    with SandboxServer(Options(time_scale=0), faults=plan) as sandbox:
        host = code_host_of(sandbox)
        errors: list[GitHubError] = []
        pr = None
        for _ in range(6):
            try:
                pr = pm.open_pull_request(
                    store,
                    config,
                    host,
                    pm.build_draft(store, config, run_id),
                    actor="a",
                    source="cli",
                )
                break
            except GitHubError as exc:
                errors.append(exc)
        host.close()
        assert pr is not None, errors
        lost = [e for e in postmortem_writes(sandbox, repo) if e["response_lost"]]
        assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in lost][:1] == [
            ("POST", "pulls")
        ]
        # Made good within the first call now: creating a pull request is sent again after a
        # failure (a repeat answers 422 "already exists", which finds the one opened).
        assert errors == []
        state = sandbox.state()["postmortem_repo"]
        assert [p["number"] for p in state["pulls"]] == [pr.number]
        assert state["branches"] == ["master", pm.branch_name(run_id)]
        path = pm.build_draft(store, config, run_id).repository_path
        assert file_in_world(sandbox, path, "master") is None
        assert file_in_world(sandbox, path, pm.branch_name(run_id)) is not None
    assert [e["number"] for e in pr_events(store, run_id)] == [pr.number]


def test_write_draft_opens_the_pull_request_only_where_the_config_says(
    store: Store,
    config: Config,
    sandbox: SandboxServer,
    code_host: GitHubCodeHost,
    tmp_path: Path,
) -> None:
    repo = config.postmortem.repository
    run_id = denied_run(store)
    off = config.model_copy(
        update={"postmortem": config.postmortem.model_copy(update={"open_pull_request": False})}
    )
    result = pm.write_draft(store, off, run_id, code_host, directory=tmp_path)
    assert result.pr_url is None
    assert postmortem_writes(sandbox, repo) == []

    result = pm.write_draft(store, config, run_id, code_host, directory=tmp_path, actor="oob")
    assert result.pull_request is not None
    assert result.pr_url == result.pull_request.url
    text = result.path.read_text(encoding="utf-8")
    assert text == file_on(sandbox, repo, result.repository_path, pm.branch_name(run_id))


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(
    tmp_path: Path, preset_text: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A config whose GitHub is the sandbox, and the store of the `store` fixture as oob's."""
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    monkeypatch.setenv("OOB_GITHUB_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    text = preset_text.replace(
        'api_url = "https://api.github.com"', f'api_url = "{sandbox.url}/github"'
    ).replace("allow_asserted_identity = false", "allow_asserted_identity = true")
    path = tmp_path / "cli.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_writes_the_draft_at_the_configured_path(
    run_cli: RunCli, store: Store, cli_env: Path, tmp_path: Path
) -> None:
    run_id = resolved_run(store)
    result = run_cli("--config", str(cli_env), "postmortem", run_id)
    assert result.code == 0, result.err
    path = tmp_path / "Postmortems/2026/2026-6-23-Editors-Cannot-Log-In-With-PIV.md"
    assert "written to" in result.out
    assert path.read_text(encoding="utf-8").startswith("# Editors cannot log in with PIV\n")


def test_cli_output_to_a_folder_writes_the_draft_in_it(
    run_cli: RunCli, store: Store, cli_env: Path, tmp_path: Path
) -> None:
    # `--output DIR` was a traceback, and left a `.partial` file behind.
    run_id = resolved_run(store)
    folder = tmp_path / "drafts"
    folder.mkdir()
    result = run_cli("--config", str(cli_env), "postmortem", run_id, "--output", str(folder))
    assert result.code == 0, result.err
    (draft,) = folder.iterdir()
    assert draft.name == "2026-6-23-Editors-Cannot-Log-In-With-PIV.md"
    assert not list(tmp_path.rglob("*.partial"))


def test_cli_opens_the_pull_request_and_reports_json(
    run_cli: RunCli, store: Store, cli_env: Path, tmp_path: Path, sandbox: SandboxServer
) -> None:
    run_id = resolved_run(store)
    out = tmp_path / "draft.md"
    args = ["--config", str(cli_env), "postmortem", run_id, "--output", str(out), "--open-pr"]
    result = run_cli(*args, "--as", "cms-oncall", "--json")
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    state = sandbox.state()["postmortem_repo"]
    assert payload == {
        "run_id": run_id,
        "outcome": "resolved",
        "path": str(out),
        "repository": "department-of-veterans-affairs/va.gov-team-sensitive",
        "repository_path": "Postmortems/2026/2026-6-23-Editors-Cannot-Log-In-With-PIV.md",
        "pull_request": {
            "number": state["pulls"][0]["number"],
            "url": payload["pull_request"]["url"],
        },
    }
    assert payload["pull_request"]["url"].endswith(f"/pull/{state['pulls'][0]['number']}")
    assert TOKEN not in result.out + result.err
    [event] = [e for e in store.events(run_id) if e.kind == events.KIND_PULL_REQUEST]
    assert (event.actor, event.source.value) == ("cms-oncall", "cli")

    again = run_cli(*args)
    assert again.code == 0, again.err
    assert f"/pull/{state['pulls'][0]['number']}" in again.out
    assert len(sandbox.state()["postmortem_repo"]["pulls"]) == 1


def test_cli_errors(run_cli: RunCli, store: Store, cli_env: Path, preset_file: Path) -> None:
    result = run_cli("--config", str(cli_env), "postmortem", "no-such-run")
    assert result.code == 2
    assert "no run 'no-such-run'" in result.err

    run_id = denied_run(store)
    refused = run_cli("--config", str(preset_file), "postmortem", run_id, "--open-pr", "--as", "x")
    assert refused.code == 2
    assert "--as is not allowed" in refused.err
