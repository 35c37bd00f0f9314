"""oob.toml as a file of TOML tables, read before (and without) the config's models
(`oob.config.load` validates what this reads).

The runs' clock needs one fact of it: whether it declares a `[sandbox]` (a sandbox config's
runs live in the sandbox's simulated time). `oob status` asks only that, so that showing a run
builds none of the config's models (`oob.cli.reach.runs_clock`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from oob.errors import ConfigError

DEFAULT_CONFIG = Path("oob.toml")


def config_path(path: Path | None) -> Path:
    return path if path is not None else DEFAULT_CONFIG


def read_text(path: Path) -> str:
    """The file's text; every way it cannot be read is one ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file",
            hint="write one with `oob init --preset va-cms`, or pass --config PATH",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not valid UTF-8 (byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None


def tables(text: str, path: Path) -> dict[str, Any]:
    """The file's TOML, not yet validated."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def declares_sandbox(path: Path | None) -> bool:
    """Whether the config at `path` (default `oob.toml`) is a sandbox's (`[sandbox]`)."""
    found = config_path(path)
    return "sandbox" in tables(read_text(found), found)
