"""People's text at its worst: every Slack and Markdown construct a value could smuggle in."""

from __future__ import annotations

HOSTILE = (
    "<!here> <!channel> <!everyone> <@U0123ABCD> <!subteam^S0BAD|@all> "
    "<https://evil.example|click here> [click](https://evil.example) "
    "![pixel](https://evil.example/p.png) <script>alert(1)</script> <b>bold</b> &lt;x&gt; "
    "a | b `code` *star* _under_ ~~gone~~ \\ backslash\n"
    "```\n# Heading\n- item\n1. numbered\n> quote\n\n---\n| x | y |\n~~~\n"
    ":::\n    indented code\n%%{init: {}}%%\nsection evil\n```"
)
