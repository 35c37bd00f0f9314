"""The garbage collector in a process that is one `oob` command: no collection while the
command starts, and none on the way out.

A command starts by importing what it uses (Typer, Rich, the store; pydantic for some): objects
that live as long as the process, about 100,000 when the store still imported SQLAlchemy. With
CPython's default thresholds the collector walked them some 140 times as they were made (the
youngest every 700 new objects, the older generations every tenth time), and all of them once
more at exit: a third of `oob runs` and `oob status` (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import gc
from typing import Any

# New objects before the first collection: a command's start with room to spare (`oob status`
# makes 106,000; the dashboard and a worker more, and collect as usual once past it).
FIRST_COLLECTION = 200_000


def collect_late() -> None:
    """The first collection after `FIRST_COLLECTION` new objects, the default thresholds from
    that collection on: a short command collects nothing, a long one as usual once started."""
    default = gc.get_threshold()

    def restore(phase: str, _info: dict[str, Any]) -> None:
        if phase == "stop" and gc.get_threshold()[0] == FIRST_COLLECTION:
            gc.set_threshold(*default)

    gc.callbacks.append(restore)
    gc.set_threshold(FIRST_COLLECTION, *default[1:])


def skip_collection_at_exit() -> None:
    """The process ends: its objects are frozen, so that the collection at exit does not walk
    them (the memory goes back to the system with the process; atexit handlers still run)."""
    gc.freeze()
