"""Fixtures shared by the whole suite."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from oob.cli import main


@pytest.fixture(autouse=True)
def _dbos_logs_to_a_live_stream() -> Iterator[None]:
    """DBOS logs through one process-wide handler bound to the stderr of the moment it was
    made: made during a test that captured its output (`run_cli`'s capsys), it would write to a
    closed stream in every later test of the same worker (`DBOS()` flushes it at launch). After
    each test it is pointed at the stderr of the moment again."""
    yield
    for handler in logging.getLogger("dbos").handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
            with handler.lock or contextlib.nullcontext():  # setStream would flush the closed one
                handler.stream = sys.stderr


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
