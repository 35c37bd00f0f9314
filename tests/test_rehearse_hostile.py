"""Every scenario rehearsed with people's text at its worst: the messages ping nobody but the
groups oob mentions, and the draft still parses into the VA.gov sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.rehearse import Incident, rehearse
from oob.sandbox.slack import USERGROUPS
from tests.hostile import HOSTILE
from tests.postmortem.test_hostile_text import LESSONS, SECTIONS, headings, parse, walk
from tests.procedure.test_rehearse import EXPECTED

ENGINEERS = USERGROUPS[0]


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_hostile_text_in_every_scenario(scenario: str, tmp_path: Path) -> None:
    incident = Incident(symptoms=HOSTILE, cause=HOSTILE, fix_summary=HOSTILE, affects=HOSTILE)
    result = rehearse(scenario, time_scale=600, drafts=tmp_path, incident=incident)
    assert result.outcome == EXPECTED[scenario]
    # Slack notified the engineers' group (hold merges, resume merging) and nobody else.
    assert result.notified.get(f"@{ENGINEERS[1]}", 0) >= 2
    assert set(result.notified) <= {f"@{ENGINEERS[1]}", *ENGINEERS[3]}
    # The draft has its sections, and no HTML, link or code block from people's text.
    assert result.postmortem_path is not None
    tokens = parse(Path(result.postmortem_path).read_text(encoding="utf-8"))
    assert headings(tokens, "h2") == SECTIONS
    assert headings(tokens, "h3")[-4:] == LESSONS
    every = walk(tokens)
    assert [t.info for t in every if t.type in ("fence", "code_block")] in ([], ["mermaid"])
    assert {t.content for t in every if t.type in ("html_inline", "html_block")} <= {"<br>"}
    hrefs = [str(t.attrs.get("href")) for t in every if t.type == "link_open"]
    assert not [h for h in hrefs if "evil" in h]
