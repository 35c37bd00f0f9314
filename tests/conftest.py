"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from oob.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


RunCli = Callable[..., CliResult]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run `oob ARGS...` in-process as the console script would; return code and output."""
    monkeypatch.setenv("COLUMNS", "120")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def preset_text() -> str:
    return (resources.files("oob") / "presets" / "va-cms.toml").read_text(encoding="utf-8")


@pytest.fixture
def preset_file(tmp_path: Path, preset_text: str) -> Path:
    path = tmp_path / "oob.toml"
    path.write_text(preset_text, encoding="utf-8")
    return path
