"""Slack's side of the world: a workspace with channels and the messages posted to them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from oob.sandbox.scenario import SlackTeam

# Slack allows short bursts, then about one message per second per channel.
BURST = 10


@dataclass
class Message:
    """A message as conversations.history returns it."""

    ts: str
    text: str
    user: str
    bot_id: str
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None
    edited_ts: str | None = None

    def as_json(self, *, team: str, with_metadata: bool) -> dict[str, Any]:
        """The message's JSON; `metadata` only when the caller asked for it, as Slack does."""
        data: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "ts": self.ts,
            "text": self.text,
            "user": self.user,
            "bot_id": self.bot_id,
            "app_id": "A0OOBSANDBOX",
            "team": team,
        }
        if self.blocks is not None:
            data["blocks"] = self.blocks
        if self.thread_ts is not None:
            data["thread_ts"] = self.thread_ts
        if self.edited_ts is not None:
            data["edited"] = {"user": self.user, "ts": self.edited_ts}
        if with_metadata and self.metadata is not None:
            data["metadata"] = self.metadata
        return data


@dataclass
class Channel:
    """A public channel the sandbox's bot is a member of."""

    id: str
    name: str
    created: int
    messages: list[Message] = field(default_factory=list)
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

    @classmethod
    def create(cls, team: SlackTeam, created: float) -> Workspace:
        """A workspace whose channel ids are stable across runs (derived from the names)."""
        channels = {}
        for name in team.channels:
            digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest().upper()
            ident = "C0" + "".join(c for c in digest if c.isalnum())[:9]
            channels[ident] = Channel(ident, name, int(created))
        return cls(team.team, team.team_id, team.domain, channels)

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
