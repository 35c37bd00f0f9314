"""Limits of the text people give oob, chosen to fit what Slack and GitHub accept.

Slack refuses a message over 40,000 characters (`msg_too_long`) and GitHub a pull request body
over 65,536. The longest message oob sends is the approval request: symptoms, who is affected,
cause and fix summary in about 600 characters of template. Escaping for Slack turns `&` into
five characters (`&amp;`), so the budget is counted five times over:

    5 * (2,000 + 1,000 + 2,000 + 2,000) + 600 + names and links  <  40,000

A note or reason appears in at most one sentence of a message, the postmortem pull request's
body or the draft (whose Markdown escaping at most doubles it). `check_text` is the one gate the
command line and the dashboard call for each value; it also refuses what is not text: invalid
UTF-8 (which Python hands over as lone surrogates) and control characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from oob.errors import UsageError

SLACK_MESSAGE_MAX = 40_000
GITHUB_BODY_MAX = 65_536

SYMPTOMS_MAX = 2_000
AFFECTS_MAX = 1_000
CAUSE_MAX = 2_000
FIX_SUMMARY_MAX = 2_000
NOTE_MAX = 1_000
REASON_MAX = 1_000

LIMITS: Mapping[str, int] = {
    "symptoms": SYMPTOMS_MAX,
    "affects": AFFECTS_MAX,
    "cause": CAUSE_MAX,
    "fix_summary": FIX_SUMMARY_MAX,
    "note": NOTE_MAX,
    "reason": REASON_MAX,
}
# The approval request's own words, names, the run id and the ETA, generously.
APPROVAL_OVERHEAD = 1_000
# Slack's escaping makes one character at most five (`&` → `&amp;`).
SLACK_GROWTH = 5

# Line breaks and tabs are text; every other control character is not.
_ALLOWED_CONTROLS = {"\n", "\t"}


def check_text(field: str, value: str) -> str:
    """`value` for `field` (a key of `LIMITS`), line endings made `\\n`, ends stripped.

    Raises `UsageError` with one line naming the field when the value is too long, is not
    valid UTF-8, or holds control characters.
    """
    limit = LIMITS[field]
    flag = f"--{field.replace('_', '-')}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{flag} is not valid UTF-8 text",
            hint="check the terminal's encoding (LANG, LC_ALL) or retype the text",
        ) from None
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc"} - _ALLOWED_CONTROLS)
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise UsageError(
            f"{flag} holds control characters ({codes})", hint="remove them from the text"
        )
    if len(text) > limit:
        raise UsageError(
            f"{flag} is {len(text):,} characters; at most {limit:,} fit a Slack message",
            hint="say it shorter, and link to the details",
        )
    return text
