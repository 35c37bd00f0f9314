"""`oob override-status` against the sandbox: who may, what is posted, what is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oob.store import open_store
from tests.adapters.test_sandbox import Start
from tests.conftest import RunCli

CYPRESS = "va/tests/cypress"


@pytest.fixture
def flaky(start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """The flaky-cypress scenario (its config accepts --as) and a fresh audit log."""
    server, path = start("flaky-cypress")
    monkeypatch.setenv("OOB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    return server.state()["fix_sha"], path


def override(run_cli: RunCli, path: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("--config", str(path), "override-status", *args)
    return result.code, result.out, result.err


def test_override_makes_the_fix_ready_and_is_audited(
    run_cli: RunCli, flaky: tuple[str, Path]
) -> None:
    fix, path = flaky
    assert run_cli("--config", str(path), "check", fix).code == 1
    code, out, err = override(
        run_cli,
        path,
        fix[:8],
        "--context",
        CYPRESS,
        "--reason",
        "flaky  login\ntest",
        "--as",
        "operator",
        "--json",
    )
    assert code == 0, err
    done = json.loads(out)
    assert done["previous_state"] == "failure"
    assert done["description"] == "Overridden by operator: flaky login test"
    report = json.loads(run_cli("--config", str(path), "check", fix, "--json").out)
    assert report["ready"] is True, report["problems"]
    row = next(c for c in report["status"]["contexts"] if c["context"] == CYPRESS)
    assert row["description"] == "Overridden by operator: flaky login test"
    store = open_store()
    try:
        [event] = store.events(None)
    finally:
        store.close()
    assert (event.actor, event.kind) == ("operator", "status.overridden")
    assert event.details == {
        "sha": fix,
        "context": CYPRESS,
        "previous_state": "failure",
        "reason": "flaky login test",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--as", "someone"), "someone may not override a commit status"),
        (("--as", "operator", "--context", "lint"), "'lint' is not a required context"),
        (("--as", "operator", "--reason", "  "), "--reason is empty"),
        (("--as", "operator", "--context", "va/tests/phpunit"), "already success"),
    ],
)
def test_refusals(
    run_cli: RunCli, flaky: tuple[str, Path], args: tuple[str, ...], message: str
) -> None:
    fix, path = flaky
    given = dict(zip(args[::2], args[1::2], strict=True))
    options = {"--context": CYPRESS, "--reason": "flaky", **given}
    code, _, err = override(run_cli, path, fix, *[x for kv in options.items() for x in kv])
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_as_is_refused_unless_the_config_allows_it(
    run_cli: RunCli, flaky: tuple[str, Path]
) -> None:
    fix, path = flaky
    path.write_text(path.read_text().replace("allow_asserted_identity = true", ""))
    code, _, err = override(
        run_cli, path, fix, "--context", CYPRESS, "--reason", "x", "--as", "operator"
    )
    assert code == 2
    assert "--as is not allowed" in err


def test_the_actor_comes_from_oob_user(
    run_cli: RunCli, flaky: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fix, path = flaky
    monkeypatch.setenv("OOB_USER", "operator")
    code, out, err = override(run_cli, path, fix, "--context", CYPRESS, "--reason", "flaky")
    assert code == 0, err
    assert "failure → success" in out
    assert "recorded in the audit log" in out
