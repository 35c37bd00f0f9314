"""The limits of what people type, chosen so that every message and draft fits the services.

Slack refuses a message over 40,000 characters (`msg_too_long`) and GitHub a pull request body
over 65,536: the approval request carries symptoms, who is affected, cause and fix summary
together, and the postmortem draft carries them with the timeline, so each field is bounded
well below those. Times are bounded too: a release wait or an estimate is finite and at most a
day.
"""

from __future__ import annotations

from oob.errors import UsageError

MAX_MINUTES = 24 * 60
TEXT_LIMITS = {
    "--symptoms": 2_000,
    "--cause": 2_000,
    "--fix-summary": 2_000,
    "--affects": 1_000,
    "--note": 2_000,
    "--reason": 2_000,
}


def check_text(option: str, value: str, *, required: bool = False) -> str:
    """`value` stripped, or `UsageError` naming the option: empty when required, too long, or
    not valid UTF-8 (a terminal sent bytes Python could only keep as surrogates)."""
    text = value.strip()
    if required and not text:
        raise UsageError(f"{option} must not be empty", hint=f"say it in a few words: {option} '…'")
    if not is_utf8(text):
        raise UsageError(
            f"{option} is not valid UTF-8",
            hint="retype it, or check the terminal's encoding (LANG, LC_ALL)",
        )
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
