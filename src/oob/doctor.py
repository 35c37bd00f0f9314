"""`oob doctor`: can oob do its work with this config, these tokens and these services?

Every check reads only; none posts a message or a status. Each failed check carries the fix a
person can apply. A service whose token is missing is reported once, and its other checks are
skipped rather than failed, so the table shows the first thing to repair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from oob.adapters.retry import RetryPolicy
from oob.config import Config, StageKind, listed
from oob.config_services import Secret, SlackService
from oob.errors import IntegrationError, OobError

if TYPE_CHECKING:
    from oob.adapters.actions import ActionsBuildServer
    from oob.adapters.chat import SlackChat
    from oob.adapters.github import GitHubCodeHost
    from oob.ports import BuildServer

# Doctor is interactive: a service that does not answer is reported after a short while.
DOCTOR_POLICY = RetryPolicy(attempts=2, total_seconds=20.0, wait_initial=0.5, wait_max=2.0)


@dataclass(frozen=True)
class Check:
    service: str
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def diagnose(config: Config, *, policy: RetryPolicy = DOCTOR_POLICY) -> list[Check]:
    """Run every check against the configured services."""
    from oob.adapters import quiet_retry_log

    quiet_retry_log()
    services = config.services
    return [
        *_token_first(config, "Jenkins", services.jenkins, _jenkins(config, policy)),
        *_token_first(config, "GitHub", services.github, _github(config, policy)),
        *_actions(config, policy),
        *_chat(config, policy),
        *_dashboard(config),
        *_jenkins_hook(config),
    ]


def diagnose_pipelines(config: Config, pipeline: str | None = None) -> list[Check]:
    """`diagnose` of every pipeline's services (of `pipeline` alone when named): a check that
    says the same for every pipeline once, another with the pipelines it is about."""
    names = [config.for_pipeline(pipeline).pipeline.name] if pipeline else config.pipeline_names
    about: dict[Check, list[str]] = {}
    for name in names:
        for check in diagnose(config.for_pipeline(name)):
            about.setdefault(check, []).append(name)
    return [
        check
        if len(pipelines) == len(names)
        else replace(check, service=f"{check.service} ({listed(pipelines)})")
        for check, pipelines in about.items()
    ]


def _dashboard(config: Config) -> Iterator[Check]:
    """Sign-ins that every `oob serve` shares: the session key's variable is set and long enough;
    none named is fine for one process, and said."""
    if config.web is None:
        return
    from oob.web.auth import session_key

    variable = config.web.session_key_env
    if variable is None:
        yield Check(
            "Dashboard",
            "session key",
            True,
            "none: sign-ins last as long as one `oob serve` process and do not cross to another",
        )
        return
    web = config.web

    def shared() -> str:
        session_key(web)
        return f"{variable} is set: every `oob serve` shares sign-ins"

    yield _attempt("Dashboard", "session key", shared)


def _jenkins_hook(config: Config) -> Iterator[Check]:
    """Jenkins' notifications: the token's variable, when `[web]` names one, is set."""
    if config.web is None or config.web.jenkins_hook_token_env is None:
        return
    from oob.web.hooks import hook_token

    web, variable = config.web, config.web.jenkins_hook_token_env

    def named() -> str:
        hook_token(web)
        return f"{variable} is set: POST /hooks/jenkins?token= wakes runs"

    yield _attempt("Dashboard", "Jenkins notifications", named)


def _attempt(service: str, name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(service, name, True, probe())
    except OobError as exc:
        return Check(service, name, False, exc.message, exc.hint)


def _at(url: str, check: Check) -> Check:
    """`check` of a service's first request, saying which URL was asked."""
    if check.ok:
        return replace(check, detail=f"{check.detail} at {url}")
    if url in check.detail:
        return check
    return replace(check, fix=f"{check.fix or 'check the URL'} (asked {url})")


def _token(config: Config, service: str, secret: Secret) -> Check:
    import os

    variable = secret.token_env
    if config.uses_sandbox_token(secret):
        why = "is set but ignored" if os.environ.get(variable) else "is not set"
        return Check(service, "token", True, f"{variable} {why}: the [sandbox] token is used")
    if config.secret_is_set(secret):
        return Check(service, "token", True, f"{variable} is set")
    return Check(
        service,
        "token",
        False,
        f"{secret.token_env} is not set",
        f"export {secret.token_env} with the API token oob should use",
    )


def _token_first(
    config: Config, service: str, secret: Secret, checks: Iterator[Check]
) -> Iterator[Check]:
    """The check of `service`'s token, then its other `checks` (a generator, not run when the
    token is missing)."""
    token = _token(config, service, secret)
    yield token
    if token.ok:
        yield from checks


def _jenkins(config: Config, policy: RetryPolicy) -> Iterator[Check]:
    from oob.adapters import make_build_server

    server = make_build_server(config, policy=policy)
    try:
        url = config.services.jenkins.url
        login = _at(
            url, _attempt("Jenkins", "reachable, credentials", lambda: f"as {server.whoami()}")
        )
        yield login
        if not login.ok:
            return
        pipeline = config.pipeline
        for stage in pipeline.stages:
            if stage.kind is not StageKind.JENKINS or stage.job is None:
                continue
            job = stage.job
            if stage is pipeline.trigger:
                yield _attempt("Jenkins", f"job {job}", partial(_release_job, server, job, config))
            else:
                yield _attempt("Jenkins", f"job {job}", partial(_job_exists, server, job))
    finally:
        server.close()


def _job_exists(server: BuildServer, job: str) -> str:
    return "exists" if server.job(job).buildable else "exists (not buildable)"


def _release_job(server: BuildServer, job: str, config: Config) -> str:
    from oob.errors import JenkinsError

    info = server.job(job)
    wanted = config.pipeline.release_wait_parameter
    if not info.buildable:
        raise JenkinsError(
            f"the release job {job} is not buildable (disabled?)",
            hint=f"enable it at {info.url}",
        )
    if wanted not in info.parameters:
        have = ", ".join(info.parameters) or "none"
        raise JenkinsError(
            f"the release job {job} has no parameter {wanted!r} (it has: {have})",
            hint="set pipeline.release_wait_parameter to the job's parameter name",
        )
    return f"buildable, takes {wanted}"


def _github(config: Config, policy: RetryPolicy) -> Iterator[Check]:
    from oob.adapters import make_code_host
    from oob.errors import GitHubError

    host = make_code_host(config, policy=policy)

    def access(repository: str, needs: str) -> Callable[[], str]:
        def check() -> str:
            permissions = host.permissions(repository)
            if not permissions.get("pull"):
                raise GitHubError(
                    f"the token cannot read {repository}",
                    hint=f"grant the token's user read access to {repository}",
                )
            if not permissions.get("push"):
                raise GitHubError(
                    f"the token can read but not write {repository} (needed to {needs})",
                    hint=f"grant write access to {repository} (commit statuses, contents, pull "
                    "requests)",
                )
            return "read and write"

        return check

    try:
        repo = config.services.github.repository
        reach = _at(
            config.services.github.api_url,
            _attempt("GitHub", f"{repo}: statuses", access(repo, "override statuses")),
        )
        yield reach
        if not reach.ok:
            return
        branch = config.services.github.branch
        yield _attempt("GitHub", f"{repo}: branch {branch}", lambda: host.commit(branch).sha[:12])
        hold = config.pipeline.merge_hold
        if hold != "ask":
            yield _attempt(
                "GitHub", f"{repo}: merge hold ({hold})", partial(_merge_hold, host, hold, branch)
            )
        postmortems = config.postmortem.repository
        yield _attempt(
            "GitHub",
            f"{postmortems}: branches, pull requests",
            access(postmortems, "open the postmortem pull request"),
        )
    finally:
        host.close()


def _actions(config: Config, policy: RetryPolicy) -> Iterator[Check]:
    """Each workflow the pipeline's github-actions stages name: there and active, its runs
    readable by the token (GitHub's token was checked for write access, which a dispatch
    needs)."""
    pipeline = config.pipeline
    stages = [s for s in pipeline.stages if s.kind is StageKind.GITHUB_ACTIONS and s.job]
    if not stages or not config.secret_is_set(config.services.github):
        return
    from oob.adapters import make_build_server

    servers = make_build_server(config, policy=policy)
    try:
        repo = config.services.github.repository
        for stage in stages:
            assert stage.job is not None
            check = partial(_workflow, servers.actions, stage.job, stage is pipeline.trigger)
            yield _attempt("GitHub Actions", f"{repo}: {stage.job}", check)
    finally:
        servers.close()


def _workflow(server: ActionsBuildServer, path: str, trigger: bool) -> str:
    from oob.errors import GitHubError

    workflow = path.partition("#")[0]
    info = server.job(workflow)
    if not info.buildable:
        raise GitHubError(f"the workflow {workflow} is disabled", hint=f"enable it at {info.url}")
    server.builds(workflow, limit=1)
    if trigger:
        return (
            "active, its runs readable; dispatched with the run's id in input "
            f"{server.correlation_input} (a fine-grained token needs Actions: write)"
        )
    return "active, its runs readable"


def _merge_hold(host: GitHubCodeHost, mode: str, branch: str) -> str:
    """Whether the merge hold will hold: "status" needs `oob/merge-hold` required by the
    branch's protection; "lock" needs a token that may change the protection."""
    from oob.errors import GitHubError
    from oob.procedure.hold import CONTEXT

    if mode == "status":
        contexts = host.branch_required_contexts(branch)
        if contexts is None or CONTEXT.lower() not in {c.lower() for c in contexts}:
            raise GitHubError(
                f"{branch}'s protection does not require {CONTEXT}: the hold only informs",
                hint=f"an admin adds {CONTEXT} to the required status checks of {branch} "
                "(Settings → Branches); oob sets it success whenever no deploy holds merges",
            )
        return f"{CONTEXT} is a required status check of {branch}"
    if not host.permissions().get("admin"):
        raise GitHubError(
            f"the token may not change {branch}'s protection, so it cannot lock it",
            hint="give the token's user admin rights on the repository, or set "
            '[pipeline] merge_hold = "status"',
        )
    if host.branch_protection(branch) is None:
        raise GitHubError(
            f"{branch} is not protected, so oob cannot lock it",
            hint=f'protect {branch} (Settings → Branches), or set merge_hold = "status"',
        )
    return f"the token may lock {branch} (lock_branch)"


def _chat(config: Config, policy: RetryPolicy) -> Iterator[Check]:
    from oob.adapters import make_chat

    slack = config.services.slack
    if slack is None:
        yield from _channels(config, make_chat(config, policy=policy))
    else:
        yield from _token_first(config, "Slack", slack, _slack(config, slack, policy))


def _slack(config: Config, slack: SlackService, policy: RetryPolicy) -> Iterator[Check]:
    from oob.adapters import make_chat

    chat = make_chat(config, policy=policy)
    login = _at(
        slack.api_url,
        _attempt("Slack", "reachable, credentials", lambda: _slack_login(chat.whoami())),
    )
    yield login
    if not login.ok:
        return
    yield from _channels(config, chat)
    yield from _mentions(config, slack, policy)
    yield from _interactivity(config, slack)


def _channels(config: Config, chat: SlackChat) -> Iterator[Check]:
    for name in config.channels:
        service = "Slack" if config.channels[name].slack else "apprise"
        yield _attempt(service, f"channel {name}", partial(chat.can_post, name))


def _interactivity(config: Config, slack: SlackService) -> Iterator[Check]:
    """The buttons work: the signing secret is set, and the interactivity URL is `oob serve`
    verifying Slack's signatures (it refuses an unsigned request with 401)."""
    if slack.signing_secret_env is None:
        return
    variable = slack.signing_secret_env
    if config.signing_secret(slack) is None:
        yield Check(
            "Slack",
            "signing secret",
            False,
            f"{variable} is not set: oob's messages carry buttons nobody can use",
            f"export {variable} with the Slack app's Signing Secret (Basic Information)",
        )
        return
    yield Check("Slack", "signing secret", True, f"{variable} is set")
    url = slack.interactivity_url
    if url is None:
        yield Check(
            "Slack",
            "interactivity URL",
            True,
            "not checked: set [services.slack] interactivity_url to the app's Request URL",
        )
        return
    yield _attempt("Slack", "interactivity URL", partial(_answers_unsigned_with_401, url))


def _answers_unsigned_with_401(url: str) -> str:
    import httpx

    try:
        answer = httpx.post(url, content=b"payload=%7B%7D", timeout=10)
    except httpx.HTTPError as exc:
        raise IntegrationError(
            f"{url} does not answer: {exc}", hint="is `oob serve` running and reachable there?"
        ) from None
    if answer.status_code != 401:
        raise IntegrationError(
            f"{url} answered an unsigned request with HTTP {answer.status_code}, not 401",
            hint="point the Slack app's Request URL at `oob serve`'s /slack/interactions",
        )
    return f"{url} is oob, refusing unsigned requests"


def _mentions(config: Config, slack: SlackService, policy: RetryPolicy) -> Iterator[Check]:
    """Each audience's mention is a user group Slack notifies: its ID exists (usergroups.list)."""
    mentioned = [(n, a) for n, a in config.audiences if a is not None and a.mention]
    if not mentioned:
        return
    groups: dict[str, str] | None = None
    for name, audience in mentioned:
        check = f"mention {audience.mention} ({name})"
        if not audience.mention_id:
            yield Check(
                "Slack",
                check,
                False,
                "no mention_id: Slack shows the mention as plain text and notifies nobody",
                f"set [audiences.{name}] mention_id to the user group's ID (S…)",
            )
            continue
        if groups is None:
            found = _attempt("Slack", "user groups", partial(_usergroups, config, slack, policy))
            if not found.ok:
                yield found
                return
            groups = dict(line.split(" ", 1) for line in found.detail.splitlines())
        if audience.mention_id in groups:
            yield Check(
                "Slack",
                check,
                True,
                f"user group {audience.mention_id} ({groups[audience.mention_id]})",
            )
        else:
            yield Check(
                "Slack",
                check,
                False,
                f"Slack has no user group {audience.mention_id}",
                f"fix [audiences.{name}] mention_id (the workspace has: "
                f"{', '.join(groups) or 'none'})",
            )


def _usergroups(config: Config, slack: SlackService, policy: RetryPolicy) -> str:
    """`usergroups.list`: one line per group, `ID @handle`."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    from oob.adapters.chat import slack_client
    from oob.errors import ChatError

    client = slack_client(config.secret(slack), slack.api_url, slack.timeout_seconds, policy)
    try:
        response = client.usergroups_list()
    except SlackApiError as exc:
        error = exc.response.get("error")
        hint = (
            "add the usergroups:read scope and reinstall the app"
            if error == "missing_scope"
            else None
        )
        raise ChatError(f"Slack refused usergroups.list ({error})", hint=hint) from None
    except (SlackClientError, OSError) as exc:
        raise ChatError(f"Slack at {slack.api_url} failed: {exc}") from None
    groups = response.get("usergroups") or []
    return "\n".join(f"{g.get('id')} @{g.get('handle')}" for g in groups)


def _slack_login(who: dict[str, object]) -> str:
    from oob.errors import ChatError

    scopes = who.get("scopes")
    if isinstance(scopes, list) and scopes and "chat:write" not in scopes:
        raise ChatError(
            "the Slack token lacks the chat:write scope",
            hint="add chat:write (and channels:history, channels:read) and reinstall the app",
        )
    return f"as {who.get('user')} in {who.get('team')}"
