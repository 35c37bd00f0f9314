"""How the sandbox's Jenkins represents what it holds: the root, folders, jobs, builds, the
queue and the executors, as Jenkins's JSON API answers them (the fields clients read).
`JenkinsApi` (`oob.sandbox.jenkins`) answers requests with them; `base` is the absolute URL
of Jenkins as the client addressed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oob.sandbox.jobs import Build, Job, QueueItem, job_url_path
from oob.sandbox.world import World

RUN_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
JOB_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
PERMALINKS: dict[str, Callable[[Build], bool]] = {
    "lastBuild": lambda b: True,
    "lastCompletedBuild": lambda b: not b.building,
    "lastSuccessfulBuild": lambda b: b.result == "SUCCESS",
    "lastStableBuild": lambda b: b.result == "SUCCESS",
    "lastFailedBuild": lambda b: b.result == "FAILURE",
    "lastUnstableBuild": lambda b: b.result == "UNSTABLE",
    "lastUnsuccessfulBuild": lambda b: b.result not in (None, "SUCCESS"),
}
QUEUE_CLASSES = {
    "waiting": "hudson.model.Queue$WaitingItem",
    "blocked": "hudson.model.Queue$BlockedItem",
    "buildable": "hudson.model.Queue$BuildableItem",
    "left": "hudson.model.Queue$LeftItem",
}
COLORS = {"SUCCESS": "blue", "UNSTABLE": "yellow", "FAILURE": "red", "ABORTED": "aborted"}


def ms(epoch: float) -> int:
    """Epoch seconds as Jenkins's epoch milliseconds."""
    return round(epoch * 1000)


def find_build(job: Job, ref: str) -> Build | None:
    """The build a URL names: by number, or by a permalink (`lastBuild`, ...)."""
    if ref.isdigit():
        return job.build(int(ref))
    test = PERMALINKS.get(ref)
    if test is None:
        return None
    return next((b for b in reversed(job.builds) if test(b)), None)


def build_ref(build: Build | None, base: str) -> dict[str, Any] | None:
    """How Jenkins names a build inside other objects (None stays None)."""
    if build is None:
        return None
    url = f"{base}{job_url_path(build.job.path)}{build.number}/"
    return {
        "_class": RUN_CLASS,
        "number": build.number,
        "displayName": f"#{build.number}",
        "url": url,
    }


def build_json(world: World, build: Build, base: str) -> dict[str, Any]:
    """A build as `.../{number}/api/json` shows it, with the actions oob reads."""
    spec = build.job
    job = world.jobs[spec.path]
    index = job.builds.index(build)
    actions = [_parameters_action(build.parameters)] if spec.parameters else []
    actions += [
        {"_class": "hudson.model.CauseAction", "causes": build.causes},
        {},
        _git_action(world, build),
        {},
        {"_class": "org.jenkinsci.plugins.workflow.job.views.FlowGraphAction"},
        {},
    ]
    end = build.end if build.end is not None else build.start
    return {
        "_class": RUN_CLASS,
        "actions": actions,
        "artifacts": [],
        "building": build.building,
        "description": None,
        "displayName": f"#{build.number}",
        "duration": 0 if build.building else ms(end) - ms(build.start),
        "estimatedDuration": int(spec.estimate_minutes * 60_000),
        "executor": None,
        "fullDisplayName": f"{spec.path.replace('/', ' » ')} #{build.number}",
        "id": str(build.number),
        "keepLog": False,
        "number": build.number,
        "queueId": build.queue_id,
        "result": build.result,
        "timestamp": ms(build.start),
        "url": f"{base}{job_url_path(spec.path)}{build.number}/",
        "changeSets": [],
        "culprits": [],
        "inProgress": build.building,
        "nextBuild": build_ref(
            job.builds[index + 1] if index + 1 < len(job.builds) else None, base
        ),
        "previousBuild": build_ref(job.builds[index - 1] if index > 0 else None, base),
    }


def _parameters_action(parameters: dict[str, str]) -> dict[str, Any]:
    """The parameters a build (or a queue item) was given."""
    return {
        "_class": "hudson.model.ParametersAction",
        "parameters": [
            {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
            for k, v in parameters.items()
        ],
    }


def _git_action(world: World, build: Build) -> dict[str, Any]:
    """The git plugin's record of the revision a build checked out."""
    branch = f"refs/remotes/origin/{world.pipeline.branch}"
    revision = {"SHA1": build.sha, "branch": [{"SHA1": build.sha, "name": branch}]}
    return {
        "_class": "hudson.plugins.git.util.BuildData",
        "buildsByBranchName": {
            branch: {
                "_class": "hudson.plugins.git.util.Build",
                "buildNumber": build.number,
                "buildResult": None,
                "marked": revision,
                "revision": revision,
            }
        },
        "lastBuiltRevision": revision,
        "remoteUrls": [f"https://github.com/{world.repo.full_name}.git"],
        "scmName": "",
    }


def job_summary(world: World, job: Job, base: str) -> dict[str, Any]:
    """A job as its folder lists it, with the color of its last build."""
    last = job.builds[-1] if job.builds else None
    color = "notbuilt" if last is None else COLORS.get(last.result or "", "blue")
    if last is not None and last.building:
        previous = next((b for b in reversed(job.builds) if not b.building), None)
        color = f"{COLORS.get(previous.result or '', 'blue') if previous else 'notbuilt'}_anime"
    if world.disabled(job.spec.path):
        color = "disabled"
    return {
        "_class": JOB_CLASS,
        "name": job.spec.name,
        "url": f"{base}{job_url_path(job.spec.path)}",
        "color": color,
        "fullName": job.spec.path,
    }


def job_json(world: World, job: Job, base: str, *, deep: bool) -> dict[str, Any]:
    """A job as `.../api/json` shows it; `deep` (a `tree=` query) gives whole builds."""
    spec = job.spec

    def ref(build: Build | None) -> dict[str, Any] | None:
        if build is None:
            return None
        return build_json(world, build, base) if deep else build_ref(build, base)

    newest = list(reversed(job.builds))
    queued = next((i for i in world.queue.values() if i.job.path == spec.path and i.in_queue), None)
    data = job_summary(world, job, base)
    data.update(
        {
            "actions": [
                {},
                {"_class": "hudson.model.ParametersDefinitionProperty"} if spec.parameters else {},
            ],
            "description": f"The {spec.path} stage of the va-cms pipeline.",
            "displayName": spec.name,
            "displayNameOrNull": None,
            "fullDisplayName": spec.path.replace("/", " » "),
            "buildable": not world.disabled(spec.path),
            "builds": [ref(b) for b in newest[:100]],
            "allBuilds": [ref(b) for b in newest] if deep else None,
            "firstBuild": ref(job.builds[0] if job.builds else None),
            "healthReport": [],
            "inQueue": queued is not None,
            "keepDependencies": False,
            "nextBuildNumber": job.next_number,
            "property": [_parameters_property(spec.parameters)] if spec.parameters else [],
            "queueItem": queue_item_json(world, queued, base) if queued else None,
            "concurrentBuild": True,
            "resumeBlocked": False,
        }
    )
    if not deep:
        del data["allBuilds"]
    for name, test in PERMALINKS.items():
        data[name] = ref(next((b for b in newest if test(b)), None))
    return data


def _parameters_property(parameters: tuple[Any, ...]) -> dict[str, Any]:
    """The parameters a job takes, with their defaults."""
    return {
        "_class": "hudson.model.ParametersDefinitionProperty",
        "parameterDefinitions": [
            {
                "_class": "hudson.model.StringParameterDefinition",
                "defaultParameterValue": {
                    "_class": "hudson.model.StringParameterValue",
                    "name": p.name,
                    "value": p.default,
                },
                "description": p.description,
                "name": p.name,
                "type": "StringParameterDefinition",
            }
            for p in parameters
        ],
    }


def folder_json(world: World, path: str, base: str) -> dict[str, Any]:
    """The root (path "") or a folder, with its children; folders nest their own jobs."""
    prefix = f"{path}/" if path else ""
    children: dict[str, dict[str, Any]] = {}
    for job_path, job in world.jobs.items():
        if not job_path.startswith(prefix):
            continue
        child = job_path[len(prefix) :].split("/")[0]
        child_path = prefix + child
        if child_path == job_path:
            children[child] = job_summary(world, job, base)
        elif child not in children:
            children[child] = folder_json(world, child_path, base)
    jobs = list(children.values())
    if not path:
        return {
            "_class": "hudson.model.Hudson",
            "jobs": jobs,
            "mode": "NORMAL",
            "nodeDescription": "the Jenkins controller's built-in node",
            "nodeName": "",
            "numExecutors": 0,
            "description": "oob sandbox",
            "url": base,
            "useCrumbs": True,
            "useSecurity": True,
            "views": [{"_class": "hudson.model.AllView", "name": "all", "url": base}],
        }
    url = f"{base}{job_url_path(path)}"
    view = {"_class": "hudson.model.AllView", "name": "All", "url": url}
    credentials = {"_class": "com.cloudbees.plugins.credentials.ViewCredentialsAction"}
    return {
        "_class": FOLDER_CLASS,
        "actions": [{}, {}, credentials],
        "name": path.rsplit("/", 1)[-1],
        "fullName": path,
        "displayName": path.rsplit("/", 1)[-1],
        "displayNameOrNull": None,
        "primaryView": view,
        "views": [view],
        "fullDisplayName": path.replace("/", " » "),
        "description": None,
        "url": url,
        "jobs": jobs,
    }


def queue_item_json(world: World, item: QueueItem, base: str) -> dict[str, Any]:
    """A queue item, waiting, blocked, buildable or left, with why it waits."""
    spec = item.job
    state = item.state if item.in_queue else "left"
    data: dict[str, Any] = {
        "_class": QUEUE_CLASSES[state],
        "actions": [
            _parameters_action(item.parameters),
            {"_class": "hudson.model.CauseAction", "causes": item.causes},
        ],
        "blocked": state == "blocked",
        "buildable": state == "buildable",
        "id": item.id,
        "inQueueSince": ms(item.in_queue_since),
        "params": "".join(f"\n{k}={v}" for k, v in item.parameters.items()),
        "stuck": False,
        "task": {
            "_class": JOB_CLASS,
            "name": spec.name,
            "url": f"{base}{job_url_path(spec.path)}",
            "color": job_summary(world, world.jobs[spec.path], base)["color"],
        },
        "url": f"queue/item/{item.id}/",
    }
    if state == "waiting":
        remaining = max(0.0, item.leaves_at - world.now)
        data["why"] = f"In the quiet period. Expires in {remaining:.1f} sec"
        data["timestamp"] = ms(item.leaves_at)
    elif state == "blocked":
        running = world.running(spec.path)
        number = running.number if running else "?"
        data["why"] = f"Build #{number} is already in progress (ETA: {spec.estimate_minutes:g} min)"
        data["buildableStartMilliseconds"] = ms(item.leaves_at)
    elif state == "buildable":
        data["why"] = "Waiting for next available executor"
        data["buildableStartMilliseconds"] = ms(item.buildable_since or world.now)
        data["pending"] = False
    else:
        data["why"] = None
        data["cancelled"] = item.cancelled
        data["executable"] = build_ref(item.build, base)
    return data


def computers_json(world: World, base: str) -> dict[str, Any]:
    """The executors: every running build on a one-off executor of the built-in node."""
    running = [b for job in world.jobs.values() for b in job.builds if b.building]
    return {
        "_class": "hudson.model.ComputerSet",
        "busyExecutors": len(running),
        "displayName": "Nodes",
        "totalExecutors": len(running),
        "computer": [
            {
                "_class": "hudson.model.Hudson$MasterComputer",
                "displayName": "Built-In Node",
                "executors": [],
                "idle": not running,
                "offline": False,
                "oneOffExecutors": [
                    {
                        "_class": "hudson.model.OneOffExecutor",
                        "currentExecutable": build_ref(b, base),
                    }
                    for b in running
                ],
            }
        ],
    }
