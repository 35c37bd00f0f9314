"""`render_config`: the oob.toml that points oob at a running sandbox.

Written by `oob sandbox --write-config` and reused by `oob rehearse`. It is built from the
sandbox's own pipeline data (not from oob's preset or config models), names the simulated people
and allows asserted identities, and carries the sandbox's fake token inline, marked sandbox-only.
"""

from __future__ import annotations

import hashlib
import json

from oob.sandbox.scenario import Pipeline, load_pipeline, load_scenario
from oob.sandbox.slack import USERGROUPS
from oob.sandbox.workspace import SLACK_USERS, signing_secret

# The va-cms stages before Jenkins, with the runbook's estimates: part of the lead time oob shows.
MANUAL_STAGES = (("Create a PR", "manual", 5.0), ("Pull Request CI Tests", "github", 50.0))
# The `gha` preset's stages after the test gate: the sandbox's release workflow, job by job.
ACTIONS_STAGES = (
    ("release", "release.yml#release", 16.0),
    ("build", "release.yml#build", 7.0),
    ("deploy to production", "release.yml#deploy", 7.0),
)
# `gha-runs`: the deploy is a run of another workflow, which the release run's success starts.
FOLLOWING_RUN_STAGES = (*ACTIONS_STAGES[:2], ("deploy to production", "deploy.yml", 7.0))
# The sandbox configs `render_config` writes, and the Actions layout each one plays.
PRESETS = {"va-cms": "jobs", "gha": "jobs", "gha-runs": "workflows"}
PRESET_CHANNELS = ("sitewide-program", "cms-helpdesk", "cms-editors", "cms-product")
# The variables a config names for the services' tokens (`token_env`).
SERVICE_TOKEN_VARIABLES = ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN")
# The variable a config names for the Slack app's signing secret (`signing_secret_env`).
SIGNING_SECRET_VARIABLE = "OOB_SLACK_SIGNING_SECRET"  # noqa: S105 (a variable's name)
# The simulated people, who may sign in to the dashboard (`oob serve`) with `person_token`.
PEOPLE = ("operator", "po", "helpdesk")
# Where the sandbox serves the pages a person opens (commits, compares, pull requests): the
# draft and the messages link there, never to the real github.com.
WEB_PATH = "/web/github"


def person_token(token: str, person: str) -> str:
    """The dashboard token of a simulated person in a sandbox whose API token is `token`."""
    return f"{token}-{person}"


def _q(value: str) -> str:
    """A TOML basic string (JSON's string escapes are valid TOML)."""
    return json.dumps(value)


def render_config(
    base_url: str,
    token: str,
    *,
    user: str = "oob",
    require_confirmation: bool = True,
    sealed: bool = False,
    web: bool = False,
    merge_hold: str = "ask",
    preset: str = "va-cms",
    scenario: str | None = None,
) -> str:
    """An oob.toml for the sandbox at `base_url` that accepts `user` with `token`, its stages
    estimated as `scenario` runs the jobs (by default, as the pipeline does); `preset`
    `gha` releases with the repository's GitHub Actions workflow instead of Jenkins' jobs
    (`gha-runs`: its deploy is the run of `deploy.yml` that the release run triggers).

    `sealed`: the sandbox's token is used even when the services' token variables are set (an
    operator's shell often has the real ones). `web`: a [web] table where the simulated people
    sign in to `oob serve` with `person_token`.
    """
    base = base_url.rstrip("/")
    pipeline = load_pipeline()
    if scenario is not None:
        pipeline = load_scenario(scenario).paced(pipeline)
    lines = [
        "# oob.toml for the oob sandbox at " + base,
        "# Written by `oob sandbox --write-config`: every service points at the sandbox.",
        *_pipeline(pipeline, merge_hold, preset),
        *_services(base, user, pipeline),
        *_audiences(),
        *_people(base, pipeline, require_confirmation=require_confirmation),
        *(_web(token) if web else []),
    ]
    return "\n".join(lines + _sandbox(token, sealed=sealed))


def render_fleet_config(base_url: str, token: str, names: list[str], preset: str = "va-cms") -> str:
    """An oob.toml for a fleet sandbox at `base_url` (`oob.sandbox.fleet`): one
    `[pipelines.NAME]` table per pipeline of `names`, whose services, CMS and checks are its
    world's, under `base_url/NAME`; the shared tables are the first pipeline's. Sealed, with a
    [web] table, as `oob sandbox --write-config` writes it."""
    base = base_url.rstrip("/")
    pipeline = load_pipeline()
    first = f"{base}/{names[0]}"
    lines = [
        f"# oob.toml for the oob sandbox's fleet of {len(names)} pipelines at {base}",
        "# Written by `oob sandbox --pipelines N --write-config`: each pipeline's services are",
        "# its own world's, under its prefix.",
    ]
    for name in names:
        lines += _pipeline(pipeline, preset=preset, table=f"pipelines.{name}")
        lines += _fleet_services(f"{base}/{name}", f"pipelines.{name}")
    lines += [
        *_services(first, "oob", pipeline),
        *_audiences(),
        *_people(first, pipeline, require_confirmation=True),
        *_web(token),
    ]
    return "\n".join(lines + _sandbox(token, sealed=True))


def _fleet_services(base: str, table: str) -> list[str]:
    """What a fleet's pipeline overrides: where its world's services and CMS answer."""
    return [
        "",
        f"[{table}.services.jenkins]",
        f"url = {_q(base + '/jenkins/')}",
        "",
        f"[{table}.services.github]",
        f"api_url = {_q(base + '/github')}",
        f"web_url = {_q(base + WEB_PATH)}",
        "",
        f"[{table}.services.slack]",
        f"api_url = {_q(base + '/slack/api/')}",
        *_verify(base, f"{table}.verify", require_confirmation=True),
    ]


def _sandbox(token: str, *, sealed: bool) -> list[str]:
    used = "always" if sealed else "when the token variables are unset"
    return [
        "",
        f"# SANDBOX ONLY: the sandbox's fake credential, used {used}.",
        "# oob refuses it unless every service is on this machine.",
        "[sandbox]",
        f"token = {_q(token)}",
        f"signing_secret = {_q(signing_secret(token))}",
        f"sealed = {'true' if sealed else 'false'}",
        "",
    ]


def _pipeline(
    pipeline: Pipeline, merge_hold: str = "ask", preset: str = "va-cms", table: str = "pipeline"
) -> list[str]:
    gate = next(j for j in pipeline.jobs if j.kind == "tests")
    jobs = [(job.path, "jenkins", job.path, job.estimate_minutes) for job in pipeline.jobs]
    trigger = pipeline.release_job.path
    if preset != "va-cms":  # Jenkins tests the fix; the Actions workflow releases it
        stages = ACTIONS_STAGES if preset == "gha" else FOLLOWING_RUN_STAGES
        jobs = jobs[: pipeline.jobs.index(gate) + 1] + [
            (name, "github-actions", path, minutes) for name, path, minutes in stages
        ]
        trigger = stages[0][1]
    lines = ["", f"[{table}]"]
    if table == "pipeline":  # a [pipelines.NAME] table is named by its NAME
        lines.append(
            f"name = {_q(('va-cms' if preset == 'va-cms' else f'va-cms-{preset}') + ' (sandbox)')}"
        )
    lines += [
        f"test_gate = {_q(gate.path)}",
        f"release_trigger = {_q(trigger)}",
        "release_wait = 15",
        'release_wait_parameter = "release_wait"',
        'deployment_environment = "production"',
        r"release_log_pattern = 'Commit status: (?P<state>\w+) : (?P<sha>[0-9a-f]{7,40})'",
    ]
    if merge_hold != "ask":
        lines.append(f"merge_hold = {_q(merge_hold)}")
    for name, kind, minutes in MANUAL_STAGES:
        lines += ["", f"[[{table}.stages]]", f"name = {_q(name)}", f'kind = "{kind}"']
        lines.append(f"estimate_minutes = {minutes:g}")
    for name, kind, path, minutes in jobs:
        lines += ["", f"[[{table}.stages]]", f"name = {_q(name)}", f"kind = {_q(kind)}"]
        lines += [f"job = {_q(path)}", f"estimate_minutes = {minutes:g}"]
    return lines


def _services(base: str, user: str, pipeline: Pipeline) -> list[str]:
    contexts = ", ".join(_q(c) for c in pipeline.required_contexts)
    lines = [
        "",
        "[services.jenkins]",
        f"url = {_q(base + '/jenkins/')}",
        f"user = {_q(user)}",
        f"token_env = {_q(SERVICE_TOKEN_VARIABLES[0])}",
        "",
        "[services.github]",
        f"api_url = {_q(base + '/github')}",
        f"web_url = {_q(base + WEB_PATH)}",
        f"repository = {_q(pipeline.repository)}",
        f"branch = {_q(pipeline.branch)}",
        f"token_env = {_q(SERVICE_TOKEN_VARIABLES[1])}",
        f"required_contexts = [{contexts}]",
        "",
        "[services.slack]",
        f"api_url = {_q(base + '/slack/api/')}",
        f"token_env = {_q(SERVICE_TOKEN_VARIABLES[2])}",
        f"signing_secret_env = {_q(SIGNING_SECRET_VARIABLE)}",
        "",
        "# The Slack users of the simulated people: who clicked a button.",
        "[services.slack.users]",
        *(f"{_q(user)} = {_q(person)}" for person, user in SLACK_USERS.items()),
    ]
    for channel in PRESET_CHANNELS:
        lines += ["", f"[channels.{channel}]", f'slack = "#{channel}"']
    return lines


def _audiences() -> list[str]:
    """The va-cms audiences; engineers are the sandbox Slack's user group, by its ID."""
    group_id, group_handle = USERGROUPS[0][0], USERGROUPS[0][1]
    audiences = (
        ("engineers", "sitewide-program", f"@{group_handle}"),
        ("sitewide", "sitewide-program", ""),
        ("helpdesk", "cms-helpdesk", ""),
        ("editors", "cms-editors", ""),
        ("product_owner", "cms-product", ""),
        ("operators", "sitewide-program", ""),
    )
    lines: list[str] = []
    for audience, channel, mention in audiences:
        lines += ["", f"[audiences.{audience}]", f'channels = ["{channel}"]']
        if mention:
            lines += [f"mention = {_q(mention)}", f"mention_id = {_q(group_id)}"]
    return lines


def _people(base: str, pipeline: Pipeline, *, require_confirmation: bool) -> list[str]:
    """Roles of the simulated people, how the fix is verified, where the postmortem goes."""
    return [
        "",
        "# The simulated people; pick one with `--as NAME`.",
        "[roles]",
        'deployers = ["operator"]',
        'approvers = ["po"]',
        'status_overriders = ["operator"]',
        'fix_confirmers = ["helpdesk"]',
        "allow_self_approval = false",
        "allow_asserted_identity = true",
        *_verify(base, "verify", require_confirmation=require_confirmation),
        "",
        "[postmortem]",
        f"repository = {_q(pipeline.postmortems_repository)}",
        f"base_branch = {_q(pipeline.postmortems_branch)}",
        'path = "Postmortems/{year}/{date}-{slug}.md"',
        "open_pull_request = true",
    ]


def _verify(base: str, table: str, *, require_confirmation: bool) -> list[str]:
    """How the fix is verified: the CMS's editor login page answering."""
    login = f"{base}/cms/user/login"
    return [
        "",
        f"[{table}]",
        f"shield_url = {_q(login)}",
        f"require_confirmation = {'true' if require_confirmation else 'false'}",
        "timeout_minutes = 30",
        "",
        f"[[{table}.checks]]",
        'kind = "http"',
        'name = "editor login page"',
        f"url = {_q(login)}",
        "expect_status = 200",
    ]


def _web(token: str) -> list[str]:
    lines = [
        "",
        "# The dashboard (`oob serve`): each simulated person signs in with their token,",
        f"# {_q(person_token(token, 'NAME'))}; only its SHA-256 is kept here.",
        "[web]",
        'identity = "tokens"',
    ]
    for person in PEOPLE:
        digest = hashlib.sha256(person_token(token, person).encode()).hexdigest()
        lines += ["", f"[web.users.{person}]", f"token_sha256 = {_q(digest)}"]
    return lines
