"""People's text made safe where the draft's template puts it: Markdown, tables, Mermaid.

Symptoms, causes, notes, reasons, commit titles and names are typed by people and may hold
anything: a line of three backticks would open a code block that swallows the sections after
it, a `|` would split a table row, `<script>` or `[label](url)` would become HTML or a disguised
link. The template's environment escapes every value it prints (`escape`), so a value shows as
typed and cannot change the draft's structure; the filters below return `Markdown`, text that
is already safe (a table cell, a code span, a URL), which is printed as it is.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote


class Markdown(str):
    """Text already safe as Markdown: printed as it is."""

    __slots__ = ()


# Inline Markdown and HTML: emphasis, code, links and images, autolinks and tags, table pipes,
# strikethrough, and the backslash itself; an underscore inside a word (`deploy_failed`) and an
# ampersand that does not start an entity stay as they are, as CommonMark reads them literally.
_INLINE = re.compile(r"([\\`*\[\]<>|~]|(?<![^\W_])_|_(?![^\W_])|&(?=#?\w+;))")
# What starts a block when it opens a line: headings, list items, quotes, thematic breaks.
_BLOCK_START = re.compile(r"^(#(?=#{0,5}(?:\s|$))|[-+](?=\s|$)|[-=](?=[-=\s]*$))|^(\d{1,9})([.)])")
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029\x0b\x0c\x85]+\s*")


def escape(value: Any) -> Any:
    """`value` as literal Markdown text on one line (non-text values and `Markdown` unchanged)."""
    if isinstance(value, Markdown) or not isinstance(value, str):
        return value
    return Markdown(_escape(_LINE_BREAKS.sub(" ", value).strip()))


def _escape(line: str) -> str:
    text = _INLINE.sub(r"\\\1", line)
    return _BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)


def cell(value: object) -> Markdown:
    """A value safe inside a table cell: escaped, pipes escaped, its lines joined by `<br>`."""
    text = "" if value is None else str(value)
    lines = [_escape(line.strip()) for line in re.split(r"\r\n|[\r\n]", text)]
    return Markdown("<br>".join(line for line in lines if line))


def code(value: object, *, table: bool = False) -> Markdown:
    """A code span holding `value` on one line, whatever backticks it contains (in a table
    cell, with `table`, its pipes escaped as GFM tables ask even inside code)."""
    text = _LINE_BREAKS.sub(" ", "" if value is None else str(value)).strip()
    if not text:
        return Markdown("")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    span = f"{fence}{pad}{text}{pad}{fence}"
    return Markdown(span.replace("|", "\\|") if table else span)


def url(value: object) -> Markdown:
    """An http(s) URL safe as a link target and as a bare link; anything else is dropped."""
    text = "" if value is None else str(value).strip()
    if not re.match(r"^https?://", text, re.IGNORECASE):
        return Markdown("")
    return Markdown(quote(text, safe=":/?#@!$&'*+,;=%~-._"))


def mermaid_name(value: object) -> Markdown:
    """A name safe in a Mermaid gantt line: only letters, digits and plain punctuation.

    Colons, semicolons and hashes end or comment a task line; backticks could end the fence.
    """
    text = re.sub(r"[^\w .,/()+-]+", " ", "" if value is None else str(value))
    return Markdown(re.sub(r"\s+", " ", text).strip())
