"""The one exception tree of oob.

Every error a user can cause or meet carries a one-line message, a hint that says what to do,
and the exit code the CLI returns::

    OobError                      exit 2 unless a subclass says otherwise
    ├── UsageError                bad input on the command line (a SHA that is not hex, ...)
    ├── ConfigError               the config file is missing, unreadable or invalid
    ├── PermissionDenied          the actor lacks the role for the action
    ├── IntegrationError          exit 1: a service failed or refused
    │   ├── JenkinsError
    │   ├── GitHubError
    │   ├── ChatError
    │   └── ProbeError
    ├── ProcedureError            exit 1: the procedure cannot go on (run busy, wrong state, ...)
    │   └── RunNotFound           exit 2
    └── CheckFailed               exit 1: a check ran and said "not ready"
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class OobError(Exception):
    """Root of every error oob reports to a user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(OobError):
    """Bad input on the command line."""


class ConfigError(OobError):
    """The config file is missing, unreadable or invalid."""


class PermissionDenied(OobError):
    """The actor lacks the role the action needs."""


class IntegrationError(OobError):
    """A service (Jenkins, GitHub, chat, the CMS) failed or refused a request.

    `transient` tells callers whether trying again later may succeed (the service was down,
    overloaded or rate limiting, also after the adapter's own retries) or not (refused: bad
    credentials, a missing permission or channel, an invalid request), so that a step can wait
    and retry the first kind and stop at once, with the hint, on the second.
    """

    exit_code = EXIT_FAILED
    service = "service"

    def __init__(self, message: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class JenkinsError(IntegrationError):
    service = "Jenkins"


class GitHubError(IntegrationError):
    service = "GitHub"


class ChatError(IntegrationError):
    service = "chat"


class ProbeError(IntegrationError):
    service = "probe"


class ProcedureError(OobError):
    """The procedure cannot go on as asked."""

    exit_code = EXIT_FAILED


class RunNotFound(ProcedureError):
    exit_code = EXIT_USAGE


class CheckFailed(OobError):
    """A check ran and found the deploy not ready."""

    exit_code = EXIT_FAILED
