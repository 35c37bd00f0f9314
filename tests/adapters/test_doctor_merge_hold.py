"""`oob doctor` says whether the configured merge hold will hold."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli

from .conftest import Start

HOLD = "merge hold"


def with_hold(path: Path, mode: str) -> Path:
    text = path.read_text(encoding="utf-8")
    marker = 'release_wait_parameter = "release_wait"\n'
    assert marker in text
    path.write_text(text.replace(marker, f'{marker}merge_hold = "{mode}"\n'), encoding="utf-8")
    return path


def hold_check(run_cli: RunCli, path: Path) -> dict[str, str]:
    result = run_cli("--config", str(path), "doctor", "--json")
    checks = json.loads(result.out)["checks"]
    (check,) = [c for c in checks if HOLD in c["check"]]
    assert result.code == (0 if check["ok"] else 1), result.out
    return dict(check)


def test_status_hold_needs_the_context_required(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    check = hold_check(run_cli, with_hold(path, "status"))
    assert check["ok"] is False
    assert "does not require oob/merge-hold: the hold only informs" in check["detail"]
    assert "required status checks" in check["fix"]
    _, path = start(hold_required=True)
    check = hold_check(run_cli, with_hold(path, "status"))
    assert check["ok"] is True
    assert check["detail"] == "oob/merge-hold is a required status check of main"


def test_lock_hold_needs_an_admin_token(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    check = hold_check(run_cli, with_hold(path, "lock"))
    assert check["ok"] is False
    assert "may not change main's protection" in check["detail"]
    _, path = start(github_admin=True)
    check = hold_check(run_cli, with_hold(path, "lock"))
    assert check["ok"] is True


def test_asking_only_checks_nothing_more(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    result = run_cli("--config", str(path), "doctor", "--json")
    assert not [c for c in json.loads(result.out)["checks"] if HOLD in c["check"]]
