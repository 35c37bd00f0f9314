"""What every command shares: the config path, the loaded config, and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

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

    @staticmethod
    def error_console() -> Console:
        return Console(stderr=True, highlight=False)
