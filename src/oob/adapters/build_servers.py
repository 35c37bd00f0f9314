"""One build server port over both backends: a stage's path says which one runs it.

A path naming a workflow file (`release.yml`, `release.yml#deploy`) goes to GitHub Actions,
any other (`deploys/cms-auto-deploy`) to Jenkins; so a pipeline may test on Jenkins and release
with Actions, and the procedure never asks which.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from oob.adapters.actions import ActionsBuildServer
from oob.adapters.jenkins import JenkinsBuildServer
from oob.config_types import WORKFLOW_PATH
from oob.ports import Build, BuildServer, JobInfo, LogChunk, LogScan, QueuedBuild


class BuildServers:
    """`oob.ports.BuildServer`: each call goes to the backend its path names."""

    def __init__(self, jenkins: JenkinsBuildServer, actions: ActionsBuildServer) -> None:
        self.jenkins = jenkins
        self.actions = actions

    def close(self) -> None:
        """Close both backends' connection pools."""
        self.jenkins.close()
        self.actions.close()

    def __repr__(self) -> str:
        return f"BuildServers({self.jenkins!r}, {self.actions!r})"

    def runs(self, path: str) -> BuildServer:
        """The backend that runs `path`."""
        return self.actions if re.match(WORKFLOW_PATH, path) else self.jenkins

    def whoami(self) -> str:
        """The Jenkins user the token authenticates as (`oob doctor`)."""
        return self.jenkins.whoami()

    def job(self, path: str) -> JobInfo:
        return self.runs(path).job(path)

    def trigger(self, path: str, parameters: dict[str, str]) -> QueuedBuild:
        return self.runs(path).trigger(path, parameters)

    def queued(self, path: str, queue_id: int) -> QueuedBuild:
        return self.runs(path).queued(path, queue_id)

    def build(self, path: str, number: int) -> Build:
        return self.runs(path).build(path, number)

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        return self.runs(path).builds(path, limit)

    def find(self, path: str, parameters: dict[str, str], since: datetime) -> Build | None:
        return self.runs(path).find(path, parameters, since)

    def log(self, path: str, number: int, start: int = 0) -> LogChunk:
        return self.runs(path).log(path, number, start)

    def follow_log(self, path: str, number: int, start: int = 0) -> Iterator[str]:
        return self.runs(path).follow_log(path, number, start)

    def scan_log(self, path: str, number: int, pattern: str, start: int = 0) -> LogScan:
        return self.runs(path).scan_log(path, number, pattern, start)

    def stop(self, path: str, number: int) -> None:
        self.runs(path).stop(path, number)
