"""Reading the forms browsers post: URL-encoded, bounded in size, and UTF-8 throughout."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from oob.web.api_models import TEXT_LIMIT

# A form body larger than this is refused unread: a note, a reason and a context, each at the
# limit and every character percent-encoded UTF-8 (up to 12 bytes), fit well within it.
FORM_BYTES_LIMIT = 128 * 1024


class BadForm(Exception):
    """A form that cannot be read: `status` and `message` say why, for the page to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """The fields of the form posted (the first value of each), or `BadForm`."""
    # URL-encoded forms only (no file uploads): the standard library parses them, strictly.
    too_large = BadForm(
        413, f"This form is too large: a note or a reason holds at most {TEXT_LIMIT:,} characters."
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_BYTES_LIMIT:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES_LIMIT:
            raise too_large
    try:
        text = body.decode()
        fields = parse_qs(text, errors="strict")  # a %-escape that is not UTF-8 raises too
    except UnicodeDecodeError:
        raise BadForm(
            400,
            "This form could not be read: its text must be UTF-8. "
            "Send it again from the dashboard's page.",
        ) from None
    return {k: v[0] for k, v in fields.items()}
