"""Slack's side of the world: a workspace with channels and the messages posted to them.

Channels are not the bot's alone: people talk in them before and during a run, other apps post
too, and the workspace has many more channels than the ones oob uses (so listing them pages).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from oob.sandbox.scenario import SlackSetup, SlackTeam

# Slack allows short bursts, then about one message per second per channel.
BURST = 10
# People of the workspace who talk in the channels (id, name).
PEOPLE = (
    ("U02AB3CD4EF", "maria.editor"),
    ("U02GH5IJ6KL", "sam.helpdesk"),
    ("U03MN7OP8QR", "lee.product"),
    ("U03ST9UV0WX", "kim.engineer"),
    ("U04YZ1AB2CD", "alex.sitewide"),
)
CHATTER = (
    "Is anyone else seeing the login page spin?",
    "Thanks, that worked!",
    "Heads up: I'm publishing the new benefits page after lunch.",
    "Can someone look at ticket 4821 when they get a chance?",
    "Standup moved to 10:30 today.",
    "PIV login still failing for me on Chrome.",
    ":eyes:",
    "Following up on the content freeze question from yesterday.",
)
# The Slack users of oob's simulated people (`configfile.PEOPLE`): some of the people above.
SLACK_USERS: dict[str, str] = {
    "operator": "U04YZ1AB2CD",
    "po": "U03MN7OP8QR",
    "helpdesk": "U02GH5IJ6KL",
}
# A member of the workspace who is none of oob's people (an editor who clicks a button anyway).
STRANGER = "U02AB3CD4EF"
# Slack lets a trigger_id open a view for this many real seconds after the interaction.
TRIGGER_SECONDS = 3.0
# Another app that posts in the channels, with metadata of its own kind.
OTHER_APP = ("B01GITHUBAPP", "A01GITHUBAPP", "github_event")


@dataclass
class Message:
    """A message as conversations.history returns it."""

    ts: str
    text: str
    user: str
    bot_id: str | None
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None
    edited_ts: str | None = None
    app_id: str = "A0OOBSANDBOX"

    def as_json(self, *, team: str, with_metadata: bool) -> dict[str, Any]:
        """The message's JSON; `metadata` only when the caller asked for it, as Slack does."""
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        data["user"] = self.user
        data["team"] = team
        if self.bot_id is not None:
            data.update(subtype="bot_message", bot_id=self.bot_id, app_id=self.app_id)
        else:
            # A person's message: a client id and rich text blocks, no bot fields.
            data["client_msg_id"] = str(uuid.UUID(hashlib.md5(self.ts.encode()).hexdigest()))  # noqa: S324
            data["blocks"] = [{"type": "rich_text", "block_id": self.ts[-5:], "elements": []}]
        if self.blocks is not None:
            data["blocks"] = self.blocks
        if self.thread_ts is not None:
            data["thread_ts"] = self.thread_ts
        if self.edited_ts is not None:
            data["edited"] = {"user": self.user, "ts": self.edited_ts}
        if with_metadata and self.metadata is not None:
            data["metadata"] = self.metadata
        return data


def signing_secret(token: str) -> str:
    """The sandbox Slack app's signing secret: 32 hex digits, as Slack's are, derived from the
    sandbox's token (so the config writer knows it without asking the server)."""
    return hmac.new(b"oob-sandbox-slack-signing", token.encode(), hashlib.sha256).hexdigest()[:32]


def verification_token(token: str) -> str:
    """The app's (deprecated) verification token Slack puts in every payload's `token`."""
    digest = hmac.new(b"oob-sandbox-slack-verification", token.encode(), hashlib.sha256)
    return "".join(c for c in digest.hexdigest() if c.isalnum())[:24]


@dataclass
class Ephemeral:
    """A message only one person sees (chat.postEphemeral, a command's or response_url's answer)."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    via: str = "chat.postEphemeral"

    def as_json(self) -> dict[str, Any]:
        """What the control API shows of it."""
        data: dict[str, Any] = {"type": "message", "subtype": "bot_message", "ts": self.ts}
        data.update(channel=self.channel, user=self.user, text=self.text, via=self.via)
        if self.blocks is not None:
            data["blocks"] = self.blocks
        if self.thread_ts is not None:
            data["thread_ts"] = self.thread_ts
        return data


@dataclass
class Trigger:
    """A trigger_id an interaction issued: good once, for `TRIGGER_SECONDS` of real time."""

    id: str
    user: str
    issued: float
    """`time.monotonic()` when it was issued."""
    used: bool = False


@dataclass
class View:
    """A modal open for one person, as views.open returns it."""

    id: str
    user: str
    spec: dict[str, Any]
    hash: str
    errors: dict[str, str] = field(default_factory=dict)
    """The errors the app answered the last submission with (`response_action: errors`)."""

    def as_json(self, *, team: str, app_id: str, bot_id: str) -> dict[str, Any]:
        """The view object of views.open's answer and of view_submission payloads."""
        spec = self.spec
        return {
            "id": self.id,
            "team_id": team,
            "type": "modal",
            "title": spec["title"],
            "submit": spec.get("submit"),
            "close": spec.get("close"),
            "blocks": spec["blocks"],
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "external_id": spec.get("external_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "root_view_id": self.id,
            "previous_view_id": None,
            "app_id": app_id,
            "app_installed_team_id": team,
            "bot_id": bot_id,
        }


@dataclass
class Hook:
    """A response_url an interaction handed out: where the app may answer the person."""

    id: str
    secret: str
    user: str
    channel: str
    issued: float
    """Simulated time it was issued (Slack honours one for 30 minutes, five times)."""
    message_ts: str | None = None
    """The message the interaction came from (none for a slash command)."""
    ephemeral: bool = False
    uses: int = 0


@dataclass
class AppSettings:
    """The Slack app's settings page: where Slack sends interactions and slash commands."""

    interactivity_url: str = ""
    commands_url: str = ""


@dataclass
class Channel:
    """A public channel the sandbox's bot is a member of."""

    id: str
    name: str
    created: int
    messages: list[Message] = field(default_factory=list)
    archived: bool = False
    member: bool = True
    """Whether the bot is a member (else posting needs `chat:write.public`)."""
    people: bool = False
    """Whether the workspace's people (`PEOPLE`) are members: the team's channels."""
    # Slack's per-channel rate limit: messages that may still be posted, and since when.
    allowance: float = BURST
    allowance_at: float = 0.0

    def find(self, ts: str) -> Message | None:
        """The message with timestamp `ts`, if any."""
        return next((m for m in self.messages if m.ts == ts), None)


@dataclass
class Workspace:
    """The workspace: its channels by id, and the clock of message timestamps."""

    team: str
    team_id: str
    domain: str
    channels: dict[str, Channel]
    last_ts: float = 0.0

    scopes: tuple[str, ...] = ()
    app: AppSettings = field(default_factory=AppSettings)
    ephemerals: list[Ephemeral] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    """Open modals, oldest first."""
    triggers: dict[str, Trigger] = field(default_factory=dict)
    hooks: dict[str, Hook] = field(default_factory=dict)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def create(cls, team: SlackTeam, setup: SlackSetup, created: float) -> Workspace:
        """A workspace whose channel ids are stable across runs (derived from the names):
        the team's channels, then many others, as a real workspace has."""
        channels = {}
        others = [f"{team.domain}-team-{n:03d}" for n in range(team.other_channels)]
        for name in [*team.channels, *others]:
            digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest().upper()
            ident = "C0" + "".join(c for c in digest if c.isalnum())[:9]
            channels[ident] = Channel(
                ident,
                name,
                int(created),
                archived=name in setup.archived,
                member=name in team.channels and name not in setup.not_member,
                people=name in team.channels,
            )
        return cls(team.team, team.team_id, team.domain, channels, scopes=setup.scopes)

    def seed_history(self, rng: random.Random, start: float, end: float, per_channel: int) -> None:
        """People's messages (and another app's) in the team's channels before the run."""
        team = [c for c in self.channels.values() if c.member]
        count = range(per_channel)
        written = sorted((rng.uniform(start, end), i) for i in range(len(team)) for _ in count)
        for at, index in written:
            team[index].messages.append(self.chatter(rng, at))

    def chatter(self, rng: random.Random, at: float) -> Message:
        """One message someone (or another app) writes at `at`."""
        ts = self.next_ts(at)
        if rng.random() < 0.1:
            bot_id, app_id, kind = OTHER_APP
            payload = {"key": f"pr-{rng.randint(1, 9999)}"}
            return Message(
                ts=ts,
                text="Pull request merged",
                user="U01GITHUBBOT",
                bot_id=bot_id,
                app_id=app_id,
                metadata={"event_type": kind, "event_payload": payload},
            )
        user, _ = rng.choice(PEOPLE)
        return Message(ts=ts, text=rng.choice(CHATTER), user=user, bot_id=None)

    def channel(self, ref: str, *, by_name: bool) -> Channel | None:
        """The channel with id `ref`, or (when `by_name`) named `ref` or `#ref`."""
        if ref in self.channels:
            return self.channels[ref]
        if by_name:
            name = ref.removeprefix("#")
            return next((c for c in self.channels.values() if c.name == name), None)
        return None

    def next_ts(self, now: float) -> str:
        """A message timestamp: the simulated time, made unique within the workspace."""
        ts = max(round(now, 6), round(self.last_ts + 0.000001, 6))
        self.last_ts = ts
        return f"{ts:.6f}"

    def user_name(self, user: str) -> str | None:
        """The username of the workspace member `user` (an id), None if there is none."""
        return next((name for ident, name in PEOPLE if ident == user), None)

    def serial(self) -> int:
        """A number unique within the workspace (view ids, hashes, hooks)."""
        return next(self._serial)
