"""The postmortem draft: what the run's timeline says happened, in the VA.gov postmortem structure.

Kept apart so that a team can replace the wording without touching the facts:

- `facts`: the typed `PostmortemFacts` (who asked, who approved, the builds and their times, the
  released commit, the editor downtime, the verification, overrides, merges, messages);
- `extract`: `extract_facts`, a run and its events turned into those facts;
- `lessons`: the English heuristics (suggested action items, lessons, how the run ended);
- `render`: the Markdown, from a Jinja2 template (`templates/postmortem.md.j2`, replaceable by
  `[postmortem] template`);
- `publish`: the file and the pull request (`write_draft`, `open_pull_request`).
"""

from oob.postmortem.extract import extract_facts
from oob.postmortem.facts import PostmortemFacts, slugify
from oob.postmortem.publish import (
    Draft,
    DraftResult,
    branch_name,
    build_draft,
    open_pull_request,
    repository_path,
    write_draft,
    write_file,
)
from oob.postmortem.render import due_date, format_utc, render

__all__ = [
    "Draft",
    "DraftResult",
    "PostmortemFacts",
    "branch_name",
    "build_draft",
    "due_date",
    "extract_facts",
    "format_utc",
    "open_pull_request",
    "render",
    "repository_path",
    "slugify",
    "write_draft",
    "write_file",
]
