"""The messages oob posts, rendered from Jinja2 templates.

Each message has a built-in template under `oob/templates/messages/` carrying the runbook's
wording. A team overrides any of them with files in the config's `templates.directory`
(relative to the config file): `NAME.AUDIENCE.j2` for one audience, `NAME.j2` for all. The
lookup, first found wins: the team's per-audience file, the team's file, the built-in
per-audience file, the built-in file. Every template receives `mention` (the audience's
mention, e.g. `@cms-engineers-group`, or "") besides the message's own values; an unknown
name in a template is an error, not an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from oob.config import Audience, Config
from oob.errors import ConfigError

# The messages the procedure sends, each with the audiences it goes to by default.
MESSAGES: Mapping[str, tuple[str, ...]] = {
    "approval_request": ("product_owner",),
    "request_withdrawn": ("product_owner",),
    "deploy_coming": ("sitewide", "helpdesk", "editors"),
    "hold_merges": ("engineers",),
    "merge_detected": ("operators", "engineers"),
    "release_mismatch": ("operators", "engineers"),
    "deploy_failed": ("operators", "engineers"),
    "deploy_complete": ("helpdesk",),
    "fix_not_verified": ("operators", "helpdesk"),
    "resolved": ("helpdesk",),
    "called_off": ("sitewide", "helpdesk", "editors"),
    "resume_merging": ("engineers",),
}


class Messages:
    """Renders the procedure's messages for the audiences of one config."""

    def __init__(self, config: Config) -> None:
        self._config = config
        loaders: list[jinja2.BaseLoader] = []
        directory = config.templates.directory
        if directory is not None:
            if not directory.is_absolute() and config.source is not None:
                directory = config.source.parent / directory
            if not directory.is_dir():
                raise ConfigError(
                    f"templates.directory {directory} is not a directory",
                    hint="create it, or remove [templates] directory from the config",
                )
            loaders.append(jinja2.FileSystemLoader(directory))
        loaders.append(jinja2.PackageLoader("oob", "templates/messages"))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 - chat text, not HTML
            keep_trailing_newline=False,
        )

    def audience(self, name: str) -> Audience | None:
        """The configured audience `name` (None when the optional `operators` is not set)."""
        audience: Audience | None = getattr(self._config.audiences, name)
        return audience

    def render(self, message: str, audience: str, values: Mapping[str, Any]) -> str:
        """The text of `message` for `audience`, with `values` and the audience's mention."""
        if message not in MESSAGES:
            raise KeyError(message)
        who = self.audience(audience)
        template = self._env.select_template([f"{message}.{audience}.j2", f"{message}.j2"])
        try:
            text = template.render({**values, "mention": who.mention if who else ""})
        except jinja2.TemplateError as exc:
            raise ConfigError(
                f"message template {template.name!r} cannot be rendered: {exc}",
                hint="check the names it uses against the built-in template",
            ) from None
        return text.strip()
