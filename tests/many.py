"""Configs of several pipelines, written from a single-pipeline one as a person would."""

from __future__ import annotations


def many_pipelines(text: str, others: dict[str, str], name: str | None = None) -> str:
    """`text` (a single-pipeline config) with its `[pipeline]` made `[pipelines.NAME]` under its
    own name (or `name`), and each of `others` added: a copy of that pipeline named by the key,
    followed by the value (its own tables, e.g. `[pipelines.NAME.services.github]`)."""
    head, found, rest = text.partition("[pipeline]\n")
    assert found, "not a single-pipeline config"
    name_line, _, rest = rest.partition("\n")
    name = name or name_line.removeprefix("name = ").strip('"')
    body, found, tail = rest.partition("[services.jenkins]")
    assert found
    tables = [_renamed(body, name)]
    tables += [_renamed(body, other) + extra + "\n" for other, extra in others.items()]
    return head + "".join(tables) + found + tail


def _renamed(body: str, name: str) -> str:
    return f"[pipelines.{name}]\n" + body.replace(
        "[[pipeline.stages]]", f"[[pipelines.{name}.stages]]"
    )
