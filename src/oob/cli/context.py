"""What every command shares: the config path, the loaded config, the consoles, and how a
command answers (JSON when asked for, else text) and fails (exit status 1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from oob.errors import EXIT_FAILED

if TYPE_CHECKING:
    from oob.config import Config


@dataclass
class AppContext:
    config_path: Path | None = None
    console: Console = field(default_factory=lambda: Console(highlight=False))

    @cached_property
    def config(self) -> Config:
        from oob.config import load

        return load(self.config_path)

    def print_json(self, payload: object) -> None:
        """Machine-readable output: plain JSON on standard output, never styled or wrapped."""
        import json

        print(json.dumps(payload, indent=2, default=str))

    def answer(
        self, as_json: bool, payload: Callable[[], object], show: Callable[[Console], None]
    ) -> None:
        """`payload()` as JSON when `--json` asked for it, else what `show` prints for people."""
        if as_json:
            self.print_json(payload())
        else:
            show(self.console)

    @staticmethod
    def error_console() -> Console:
        return Console(stderr=True, highlight=False)


def fail_unless(ok: bool) -> None:
    """End the command with exit status 1 (the report said why) unless `ok`."""
    if not ok:
        raise typer.Exit(EXIT_FAILED)
