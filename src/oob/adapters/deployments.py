"""The deployments record on GitHub's Deployments API: each out-of-band deploy appears on the
repository's environment page, whatever build server released it.

A run's deployment is made when its release is triggered, of the release branch (`ref`: GitHub
records the branch's head then as its `sha`; the release job releases the branch's head at its
pick, which the statuses' descriptions name). It carries the oob run's id in its payload
(`{"oob_run": ID}`); `record` looks for it (by ref, environment and task) before creating one,
and looks again when a create's answer is lost, so a resumed run never makes a second. It asks
GitHub to check no commit status (`required_contexts: []`): the procedure checks the released
commit itself, and a merge hold's pending status must not refuse the record; nor to merge the
default branch into the ref (`auto_merge: false`); the environment outlives the deployment
(`transient_environment: false`). `set_state` posts a status only when it is not the newest
already.
"""

from __future__ import annotations

from typing import Any

from oob.adapters.github_api import GitHubApi
from oob.errors import GitHubError
from oob.ports import DeploymentRecord, DeploymentState

KEY = "oob_run"  # the payload's field that marks a deployment as one oob run's
MAX_DESCRIPTION = 140


class GitHubDeployments:
    """`oob.ports.Deployments` on one repository, through the code host's API client."""

    def __init__(self, api: GitHubApi, repository: str) -> None:
        self._api = api
        self.repository = repository

    def record(self, ref: str, environment: str, key: str, description: str) -> DeploymentRecord:
        """The deployment of `ref` to `environment` marked with `key`; created if there is none."""
        found = self._find(ref, environment, key)
        if found is not None:
            return found
        body = {
            "ref": ref,
            "environment": environment,
            "task": "deploy",
            "auto_merge": False,
            "required_contexts": [],
            "transient_environment": False,
            "payload": {KEY: key},
            "description": description[:MAX_DESCRIPTION],
        }
        url = f"repos/{self.repository}/deployments"
        try:
            response = self._api.request("POST", url, json=body, idempotent=False)
            data = self._api.ok(response, f"a deployment of {ref[:40]} to {environment}")
        except GitHubError:
            # The create may have taken effect although its answer was lost: look first.
            found = self._find(ref, environment, key)
            if found is None:
                raise
            return found
        return DeploymentRecord(int(data["id"]), str(data["sha"]), environment, None)

    def set_state(
        self,
        deployment: DeploymentRecord,
        state: DeploymentState,
        target_url: str,
        description: str,
    ) -> DeploymentRecord:
        """Post `state` with a link to `target_url`, unless it is the deployment's newest."""
        if self._newest(deployment.id) == state.value:
            return DeploymentRecord(deployment.id, deployment.sha, deployment.environment, state)
        body = {
            "state": state.value,
            "target_url": target_url,
            "log_url": target_url,
            "description": description[:MAX_DESCRIPTION],
        }
        url = f"repos/{self.repository}/deployments/{deployment.id}/statuses"
        what = f"the status of deployment {deployment.id}"
        try:
            self._api.ok(self._api.request("POST", url, json=body, idempotent=False), what)
        except GitHubError:
            if self._newest(deployment.id) != state.value:
                raise
        return DeploymentRecord(deployment.id, deployment.sha, deployment.environment, state)

    def _find(self, ref: str, environment: str, key: str) -> DeploymentRecord | None:
        params = {"ref": ref, "environment": environment, "task": "deploy", "per_page": 100}
        response = self._api.request("GET", f"repos/{self.repository}/deployments", params=params)
        for item in self._api.ok_list(response, f"the deployments of {ref[:40]}"):
            payload = item.get("payload")
            if isinstance(payload, dict) and payload.get(KEY) == key:
                deployment_id = int(item["id"])
                return DeploymentRecord(
                    deployment_id, str(item["sha"]), environment, self._newest(deployment_id)
                )
        return None

    def _newest(self, deployment_id: int) -> str | None:
        url = f"repos/{self.repository}/deployments/{deployment_id}/statuses"
        response = self._api.request("GET", url, params={"per_page": 1})
        statuses: list[dict[str, Any]] = self._api.ok_list(response, "a deployment's statuses")
        return str(statuses[0].get("state")) if statuses else None
