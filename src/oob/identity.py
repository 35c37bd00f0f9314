"""Who is acting: the identity oob records for a command-line action.

`--as NAME` where the config allows asserted identities (sandboxes and drills), otherwise
`OOB_USER`, otherwise the login name. The dashboard has its own, authenticated identities.
"""

from __future__ import annotations

import getpass
import os

from oob.config import Config
from oob.errors import UsageError

ENV_USER = "OOB_USER"


def cli_actor(config: Config, asserted: str | None = None) -> str:
    """The actor of a CLI action: `asserted` (--as) if allowed, else OOB_USER or the login."""
    if asserted is not None:
        name = asserted.strip()
        if not any(roles.allow_asserted_identity for roles in config.every_roles()):
            raise UsageError(
                "--as is not allowed by this config",
                hint="set OOB_USER, or roles.allow_asserted_identity = true for a sandbox",
            )
        if not name:
            raise UsageError("--as needs a name")
        return name
    name = os.environ.get(ENV_USER, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise UsageError(
            "cannot tell who you are", hint=f"set {ENV_USER} to the name oob knows you by"
        ) from None
