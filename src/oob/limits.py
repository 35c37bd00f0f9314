"""The limits of what people type, chosen so that every message and draft fits the services.

Slack refuses a message over 40,000 characters (`msg_too_long`) and GitHub a pull request body
over 65,536. The longest message oob sends is the approval request: symptoms, who is affected,
cause and fix summary in about 600 characters of template. Escaping for Slack turns `&` into
five characters (`&amp;`), so the budget is counted five times over:

    5 * (2,000 + 1,000 + 2,000 + 2,000) + 600 + names and links  <  40,000

A note or reason appears in at most one sentence of a message, of the postmortem pull request's
body or of the draft (whose Markdown escaping at most doubles it). Times are bounded too: a
release wait or an estimate is finite and at most a day.

`check_text` is the one gate for each value people type: it also refuses what is not text,
invalid UTF-8 (which Python hands over as lone surrogates) and control characters.
"""

from __future__ import annotations

import unicodedata

from oob.errors import UsageError

MAX_MINUTES = 24 * 60
SLACK_MESSAGE_MAX = 40_000
GITHUB_BODY_MAX = 65_536
TEXT_LIMITS = {
    "--symptoms": 2_000,
    "--cause": 2_000,
    "--fix-summary": 2_000,
    "--affects": 1_000,
    "--note": 2_000,
    "--reason": 2_000,
}
# The approval request's own words, names, the run id and the ETA, generously.
APPROVAL_OVERHEAD = 1_000
# Slack's escaping makes one character at most five (`&` -> `&amp;`).
SLACK_GROWTH = 5
# Line breaks and tabs are text; every other control character is not.
_ALLOWED_CONTROLS = frozenset("\n\t")


def check_text(option: str, value: str, *, required: bool = False) -> str:
    """`value` stripped (line endings made `\\n`), or `UsageError` naming the option: empty
    when required, too long, not valid UTF-8 (a terminal sent bytes Python could only keep as
    surrogates), or holding control characters."""
    if not is_utf8(value):
        raise UsageError(
            f"{option} is not valid UTF-8",
            hint="retype it, or check the terminal's encoding (LANG, LC_ALL)",
        )
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not text:
        raise UsageError(f"{option} must not be empty", hint=f"say it in a few words: {option} '…'")
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc"} - _ALLOWED_CONTROLS)
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise UsageError(f"{option} holds control characters ({codes})", hint="remove them")
    limit = TEXT_LIMITS.get(option)
    if limit is not None and len(text) > limit:
        raise UsageError(
            f"{option} is {len(text):,} characters; at most {limit:,}",
            hint="say it shortly; link to the details (an issue, a document)",
        )
    return text


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
