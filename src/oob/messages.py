"""The messages oob posts, rendered from Jinja2 templates.

Each message has a built-in template under `oob/templates/messages/` carrying the runbook's
wording. A team overrides any of them with files in the config's `templates.directory`
(relative to the config file): `NAME.AUDIENCE.j2` for one audience, `NAME.j2` for all. The
lookup, first found wins: the team's per-audience file, the team's file, the built-in
per-audience file, the built-in file. Every template receives `mention` (the audience's
mention, e.g. `@cms-engineers-group`, or "") besides the message's own values; an unknown
name in a template is an error, not an empty string.

Values are people's text (symptoms, causes, reasons, commit titles, names), and Slack reads
`<!here>`, `<!channel>`, `<@U…>` and `<https://…|label>` in a message as pings and links. Every
value a template prints is therefore escaped the way Slack asks (`&`, `<`, `>` as entities),
except `mention`, which oob builds itself (`<!subteam^ID|@handle>` for a configured user group).
The template's own text is not escaped: a team's template may use Slack markup on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2

from oob.config import Audience, Config
from oob.errors import ConfigError
from oob.ports import Button


class SlackMarkup(str):
    """Text already in Slack's markup (a mention oob built): printed as it is."""

    __slots__ = ()


@dataclass(frozen=True)
class MessageKey:
    """A message's idempotency key: the run, the message, the audience (`a+b` for audiences
    sharing a channel) and, for a message sent once per thing (a merge), that thing. Its text
    goes with the post (Slack's message metadata), so a retried post finds the first one."""

    run_id: str
    message: str
    audience: str
    about: str = ""

    def __str__(self) -> str:
        return f"oob:{self.run_id}:{self.message}:{self.audience}" + (
            f":{self.about}" if self.about else ""
        )

    @classmethod
    def parse(cls, text: str) -> MessageKey | None:
        """The key a text is, or None for a text no `MessageKey` gives."""
        parts = text.split(":", 4)
        if len(parts) < 4 or parts[0] != "oob" or not all(parts[1:4]):
            return None
        return cls(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else "")


def slack_escape(text: str) -> str:
    """`text` shown as typed in Slack: its control characters `&`, `<` and `>` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _finalize(value: Any) -> Any:
    # Jinja calls this on every value a template prints ({{ ... }}), never on template text.
    if isinstance(value, SlackMarkup) or not isinstance(value, str):
        return value
    return slack_escape(value)


def mention_markup(audience: Audience | None) -> SlackMarkup:
    """How a message addresses `audience`: a user-group mention Slack notifies when the group's
    ID is configured (`<!subteam^S0123ABCD|@cms-engineers-group>`), else the text as written."""
    if audience is None or not audience.mention:
        return SlackMarkup("")
    if audience.mention_id:
        return SlackMarkup(f"<!subteam^{audience.mention_id}|{slack_escape(audience.mention)}>")
    return SlackMarkup(slack_escape(audience.mention))


# The messages the procedure sends, each with the audiences it goes to by default.
MESSAGES: Mapping[str, tuple[str, ...]] = {
    "approval_request": ("product_owner",),
    "request_withdrawn": ("product_owner",),
    "deploy_coming": ("sitewide", "helpdesk", "editors"),
    "hold_merges": ("engineers",),
    "release_started": ("operators",),
    "merge_detected": ("operators", "engineers"),
    "release_mismatch": ("operators", "engineers"),
    "deploy_failed": ("operators", "engineers"),
    "deploy_complete": ("helpdesk",),
    "fix_not_verified": ("operators", "helpdesk"),
    "resolved": ("helpdesk",),
    "called_off": ("sitewide", "helpdesk", "editors"),
    "resume_merging": ("engineers",),
    "hold_not_lifted": ("operators", "engineers"),
}


# The decisions a message asks for, as buttons under it (Slack channels, when the config names
# the Slack app's signing secret): (action, label, style).
BUTTONS: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "approval_request": (("approve", "Approve", "primary"), ("deny", "Deny", "danger")),
    "release_started": (("cancel", "Cancel release", "danger"),),
    "deploy_complete": (
        ("confirm-fix", "Fix works", "primary"),
        ("reject-fix", "Fix does not work", "danger"),
    ),
}


DECIDED = {
    "approve": "Approved",
    "deny": "Denied",
    "cancel": "Cancelled",
    "confirm-fix": "Fix confirmed",
    "reject-fix": "Fix reported not working",
}


def buttons(message: str, run_id: str) -> tuple[Button, ...]:
    """The buttons under `message` of run `run_id`."""
    return tuple(
        Button(action, label, run_id, style) for action, label, style in BUTTONS.get(message, ())
    )


def decided(action: str, actor: str, at: datetime, text: str) -> str:
    """What replaces a message's buttons once its question is decided: who decided what and
    when (Slack shows the time in each reader's zone), and their words."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    when = f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{stamp}>"
    footer = f"*{DECIDED.get(action, action)}* by {slack_escape(actor)} {when}"
    return f"{footer}: {slack_escape(text)}" if text else footer


@dataclass(frozen=True)
class Delivery:
    """One message to post: its text, the channel, and the audiences it speaks to there."""

    channel: str
    audiences: tuple[str, ...]
    text: str

    @property
    def about(self) -> str:
        """The audiences as one idempotency-key part (`operators+engineers`)."""
        return "+".join(self.audiences)


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
            finalize=_finalize,
        )

    def audience(self, name: str) -> Audience | None:
        """The configured audience `name` (None when the optional `operators` is not set)."""
        audience: Audience | None = getattr(self._config.audiences, name)
        return audience

    def render(self, message: str, audience: str, values: Mapping[str, Any]) -> str:
        """The text of `message` for `audience`, with `values` and the audience's mention."""
        return self._render(message, audience, values, mention_markup(self.audience(audience)))

    def deliveries(
        self, message: str, audiences: Sequence[str], values: Mapping[str, Any]
    ) -> list[Delivery]:
        """`message` for `audiences`, one post per channel: audiences sharing a channel get one
        message that mentions each of them (not the same text twice). Audiences that are not
        configured (the optional `operators`) are skipped. Channels in first-seen order."""
        sharing: dict[str, list[str]] = {}
        for name in dict.fromkeys(audiences):
            who = self.audience(name)
            for channel in who.channels if who else ():
                sharing.setdefault(channel, []).append(name)
        found: list[Delivery] = []
        for channel, names in sharing.items():
            marks = [mention_markup(self.audience(n)) for n in names]
            mention = SlackMarkup(" ".join(dict.fromkeys(m for m in marks if m)))
            texts = [self._render(message, n, values, mention) for n in names]
            for text in dict.fromkeys(texts):  # a per-audience template may still differ
                told = tuple(n for n, t in zip(names, texts, strict=True) if t == text)
                found.append(Delivery(channel, told, text))
        return found

    def _render(
        self, message: str, audience: str, values: Mapping[str, Any], mention: SlackMarkup
    ) -> str:
        if message not in MESSAGES:
            raise KeyError(message)
        template = self._env.select_template([f"{message}.{audience}.j2", f"{message}.j2"])
        try:
            text = template.render({**values, "mention": mention})
        except jinja2.TemplateError as exc:
            raise ConfigError(
                f"message template {template.name!r} cannot be rendered: {exc}",
                hint="check the names it uses against the built-in template",
            ) from None
        return text.strip()
