"""People's text cannot change the draft's structure: it parses into the VA sections whatever
the symptoms, cause, fix summary, notes, reasons, commit titles and names hold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from oob import postmortem as pm
from oob.config import Config
from oob.store import Event, Store
from tests.hostile import HOSTILE
from tests.postmortem.conftest import (
    cancelled_run,
    denied_run,
    deploy_failed_run,
    fix_not_verified_run,
    release_mismatch_run,
    resolved_run,
)

SECTIONS = [
    "What happened?",
    "Background",
    "Detection",
    "Impact",
    "Root Causes",
    "Resolution",
    "Documentation links",
    "Action Items",
    "Lessons Learned",
    "Timeline",
]
LESSONS = ["What went well", "What went wrong", "Where we got lucky", "Takeaways"]
# Details of events that carry people's text (notes, reasons, commit titles and authors).
PEOPLE_DETAILS = ("note", "reason", "message", "author", "detail", "name")

RUNS: dict[str, Callable[[Store], str]] = {
    "resolved": lambda s: resolved_run(s, overridden=True, merge=True),
    "cancelled": cancelled_run,
    "denied": denied_run,
    "release_mismatch": release_mismatch_run,
    "deploy_failed": deploy_failed_run,
    "fix_not_verified": fix_not_verified_run,
}


def hostile_event(event: Event) -> Event:
    details: dict[str, Any] = dict(event.details)
    for key in PEOPLE_DETAILS:
        if key in details:
            details[key] = HOSTILE
    if "reasons" in details:
        details["reasons"] = [HOSTILE, HOSTILE]
    return replace(event, actor=HOSTILE, summary=HOSTILE, details=details)


def hostile_draft(store: Store, config: Config, run_id: str) -> str:
    run = store.run(run_id)
    run = replace(
        run,
        requester=HOSTILE,
        symptoms=HOSTILE,
        affects=HOSTILE,
        cause=HOSTILE,
        fix_summary=HOSTILE,
    )
    events = [hostile_event(e) for e in store.events(run_id)]
    return pm.render(pm.extract_facts(run, events, config), config)


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def headings(tokens: list[Token], tag: str) -> list[str]:
    return [
        tokens[i + 1].content
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag == tag
    ]


def walk(tokens: list[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        found.append(token)
        found += walk(token.children or [])
    return found


@pytest.mark.parametrize("outcome", sorted(RUNS))
def test_hostile_text_keeps_the_va_sections(store: Store, config: Config, outcome: str) -> None:
    text = hostile_draft(store, config, RUNS[outcome](store))
    tokens = parse(text)
    assert len(headings(tokens, "h1")) == 1
    assert headings(tokens, "h2") == SECTIONS
    assert headings(tokens, "h3")[-4:] == LESSONS
    # The only code block is the chart; people's text opens none and is not in it.
    fences = [t for t in tokens if t.type in ("fence", "code_block")]
    assert [t.info for t in fences] in ([], ["mermaid"])
    for fence in fences:
        assert "evil" not in fence.content
        assert "```" not in fence.content
        assert "%%" not in fence.content
    every = walk(tokens)
    # No HTML from people (the only tag is the line break oob puts in table cells) ...
    html = {t.content for t in every if t.type in ("html_inline", "html_block")}
    assert html <= {"<br>"}
    # ... no link or image of theirs, and no emphasis or code they typed.
    links = [
        t.attrs.get("href") or t.attrs.get("src") for t in every if t.type in ("link_open", "image")
    ]
    assert not [href for href in links if "evil" in str(href)]
    assert not [t for t in every if t.type == "image"]
    # The hostile text shows as typed, on one line, in the first paragraph.
    what = text[text.index("## What happened?") :]
    assert "<!here> <!channel>" in parse(what)[4].content.replace("\\", "")


@pytest.mark.parametrize("outcome", sorted(RUNS))
def test_hostile_text_keeps_every_table_row_whole(
    store: Store, config: Config, outcome: str
) -> None:
    tokens = parse(hostile_draft(store, config, RUNS[outcome](store)))
    widths: list[int] = []
    head = 0
    cells = 0
    for token in tokens:
        if token.type == "thead_open":
            head = -1
        elif token.type == "tr_open":
            cells = 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            if head == -1:
                head = cells
            widths.append(cells - head)
        elif token.type == "table_close":
            head = 0
    assert widths, "the draft has tables"
    assert set(widths) == {0}, "a row has more or fewer cells than its header"


def test_mermaid_chart_takes_only_plain_names() -> None:
    from oob.postmortem.markdown import mermaid_name

    assert mermaid_name("a: b; c # d ```e``` %%{x}%%") == "a b c d e x"


@pytest.mark.parametrize("outcome", ["cancelled", "denied"])
def test_hostile_reason_keeps_the_pull_request_body_plain(
    store: Store, config: Config, outcome: str
) -> None:
    from oob.postmortem.publish import _pull_request_body

    run_id = RUNS[outcome](store)
    events = [hostile_event(e) for e in store.events(run_id)]
    facts = pm.extract_facts(store.run(run_id), events, config)
    body = _pull_request_body(pm.Draft(facts, "", "x.md"))
    every = walk(parse(body))
    assert not [t for t in every if t.type in ("fence", "code_block", "html_inline", "html_block")]
    assert not [t for t in every if t.type in ("link_open", "image", "heading_open")]
