"""What the dashboard is given: the config, the store, the commands people's actions go to."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address
from typing import TYPE_CHECKING, Protocol

from oob.store import Run, Source, Store
from oob.web.auth import Authenticator

if TYPE_CHECKING:
    from oob.config import Config
    from oob.web.hooks import JenkinsHooks
    from oob.web.slack import Interactions


class Commands(Protocol):
    """The actions people take on a run: the functions the CLI calls (`oob.commands.Control`).

    Each checks the actor's role and the run's state, sends the command to the run, which
    records it in its audit log with the actor and the source, and raises an `OobError` when
    it refuses.
    """

    def approve(self, run_id: str, actor: str, note: str = "", source: Source = ...) -> Run: ...

    def deny(self, run_id: str, actor: str, reason: str, source: Source = ...) -> Run: ...

    def cancel(self, run_id: str, actor: str, reason: str, source: Source = ...) -> Run: ...

    def confirm_fix(self, run_id: str, actor: str, note: str = "", source: Source = ...) -> Run: ...

    def reject_fix(self, run_id: str, actor: str, reason: str, source: Source = ...) -> Run: ...


class StatusOverride(Protocol):
    """`oob.override.override_status` with its config, code host, store and clock bound.

    Checks the reason and the context, asks the policy on run `run_id`, posts the status, and
    audits it.
    """

    def __call__(
        self,
        *,
        actor: str,
        sha: str,
        context: str,
        reason: str,
        source: Source,
        run_id: str | None,
        pipeline: str | None = None,
    ) -> object: ...


@dataclass(frozen=True)
class Settings:
    """How the app reaches the world. `poll_seconds`: how often a live stream looks for news."""

    config: Config
    store: Store
    commands: Commands
    override_status: StatusOverride
    authenticator: Authenticator
    poll_seconds: float = 1.0
    keepalive_seconds: float = 15.0
    time_scale: float = 1.0  # sandbox minutes per real minute, as the worker runs them
    slack: Interactions | None = None  # Slack's buttons and /oob, when the app is configured
    hooks: JenkinsHooks | None = None  # Jenkins' notifications, when a token is configured
    host: str = "127.0.0.1"  # the address the server listens on

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies are `Secure` (sent over HTTPS only): unless the server listens on a
        loopback address, where a browser on the same machine talks to it in plain HTTP."""
        return not is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or name to listen on) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
