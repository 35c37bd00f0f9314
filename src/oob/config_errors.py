"""A config that does not validate, told in one line a person can act on: each problem as
`path:line: key: what is wrong`, a typo named with the key it was probably meant to be.

tomllib keeps no positions, so the line of a key is found by walking the text (`line_of`).
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def problems(text: str, path: Path, exc: ValidationError) -> str:
    """Every problem of the file `path` holding `text`: the first, then each other one after a
    semicolon."""
    errors = exc.errors()
    # A typo shows up as an unknown key plus a missing one: name the typo first (with the
    # key it was meant to be), and not that missing key again.
    ordered = sorted(errors, key=lambda e: e["type"] != "extra_forbidden")
    found = [_problem(text, path, e, errors) for e in ordered]
    meant = {p.partition("did you mean ")[2].strip("'?)") for p in found}
    return "; ".join(
        p
        for p, e in zip(found, ordered, strict=True)
        if not (e["type"] == "missing" and str(e["loc"][-1]) in meant)
    )


def _problem(text: str, path: Path, error: Any, errors: list[Any]) -> str:
    """One problem of the file as `path:line: key: what is wrong`."""
    loc = tuple(error["loc"])
    where = ".".join(str(part) for part in loc) or "(top level)"
    line = line_of(text, loc)
    at = f":{line}" if line else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        missing = [
            str(e["loc"][-1])
            for e in errors
            if e["type"] == "missing" and tuple(e["loc"][:-1]) == loc[:-1]
        ]
        guess = get_close_matches(str(loc[-1]), missing, n=1)
        message = f"unknown key (did you mean {guess[0]!r}?)" if guess else "unknown key"
    elif error["type"] == "missing":
        message = "missing required key"
    return f"{path}{at}: {where}: {message}"


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the key at `loc`, found by following TOML table headers.

    tomllib keeps no positions, so this walks the text: it tracks the current table (counting
    array-of-table entries) and returns the line where the deepest part of `loc` that exists in
    the text is defined. Good enough to point a person at the right place; None when unsure.
    """
    keys = [str(part) for part in loc if not isinstance(part, int)]
    header_re = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    key_re = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")
    counts: dict[str, int] = {}
    table: list[str] = []
    index: int | None = None
    best: tuple[int, int] | None = None  # (depth matched, line)

    want_index = [part for part in loc if isinstance(part, int)]
    for number, raw in enumerate(text.splitlines(), start=1):
        header = header_re.match(raw)
        if header:
            table = [p.strip().strip("\"'") for p in header.group(2).split(".")]
            name = ".".join(table)
            if header.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                index = counts[name]
            else:
                index = None
            if keys[: len(table)] == table and _index_ok(index, want_index):
                best = _deeper(best, len(table), number)
            continue
        key = key_re.match(raw)
        if key:
            path = [*table, key.group(1).strip("\"'")]
            if keys[: len(path)] == path and _index_ok(index, want_index):
                best = _deeper(best, len(path), number)
    return best[1] if best else None


def _index_ok(index: int | None, wanted: list[int]) -> bool:
    return index is None or not wanted or index == wanted[0]


def _deeper(best: tuple[int, int] | None, depth: int, line: int) -> tuple[int, int]:
    return (depth, line) if best is None or depth > best[0] else best
