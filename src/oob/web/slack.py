"""Slack's requests to `oob serve`: the buttons under oob's messages, and the `/oob` command.

Every request is verified with the Slack app's signing secret by slack_sdk's `SignatureVerifier`
(HMAC `v0` over the timestamp and the body, compared in constant time, the timestamp within five
minutes of now) and refused when its signature was seen before (a replay). Freshness is the
wire's, in real seconds as Slack stamps it (like its rate limit), even in a rehearsal whose run
is in simulated time. A click is acknowledged at once -- Slack waits three seconds -- then acted
on: the same command, policy and atomic decision as the CLI and the dashboard (`Control.decide`,
source `slack`). The person is told the answer in a message only they see, and once the question
is decided the message's buttons are replaced by who decided what, and when, so that nobody taps
a stale button. A decision that needs a reason (deny, cancel, the fix does not work) opens a
form first.

People are the config's `[services.slack.users]`: a Slack user who is not there acts as
`slack:<ID>`, whom the policy refuses (and audits) like anyone without the role.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from slack_sdk.signature import SignatureVerifier

from oob.adapters.chat import SlackChat
from oob.adapters.retry import RetryPolicy
from oob.config import Config
from oob.errors import OobError, UsageError
from oob.events import MessagePosted
from oob.limits import check_text
from oob.messages import decided, slack_escape
from oob.policy import RULES, Action
from oob.ports import PostedMessage
from oob.states import Source
from oob.store import Run, Store

if TYPE_CHECKING:
    from oob.adapters.pool import Pool
    from oob.commands import Control

log = logging.getLogger(__name__)

WINDOW_SECONDS = 5 * 60  # slack_sdk's verifier refuses timestamps further off than this
BODY_LIMIT = 64 * 1024  # an interaction payload is a few kilobytes
ACTION_PREFIX = "oob:"
REASON = "reason"  # the block and action id of a form's one field

# What a form asks for, and its button, by action.
FORMS: Mapping[Action, tuple[str, str, str]] = {
    Action.DENY: ("Deny the deploy", "Deny", "Why do you deny it?"),
    Action.CANCEL: ("Cancel the release", "Cancel release", "Why cancel it?"),
    Action.REJECT_FIX: ("Fix does not work", "Send", "What did you see?"),
}
DONE = {
    Action.APPROVE: "You approved the deploy of run {run}.",
    Action.DENY: "You denied the deploy of run {run}.",
    Action.CANCEL: "You cancelled run {run}.",
    Action.CONFIRM_FIX: "You confirmed the fix of run {run}.",
    Action.REJECT_FIX: "You reported that the fix of run {run} does not work.",
}


@dataclass(frozen=True)
class Click:
    """A person's decision from Slack: who, what, on which run, from which message."""

    user: str
    action: Action
    run_id: str
    channel_id: str
    ts: str


@dataclass
class Interactions:
    """Slack's interactions with one config's runs. `now`: the runs' clock, in epoch seconds
    (what `/oob status` says); requests' freshness is checked in real seconds."""

    config: Config
    store: Store
    commands: Control
    services: Pool  # each run's messages are in its own pipeline's Slack
    secret: str
    now: Callable[[], float] = time.time
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._verifier = SignatureVerifier(self.secret)

    # -- the request ---------------------------------------------------------------------------

    def refusal(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """Why the request cannot be believed (None: it is Slack's, and new)."""
        stamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not stamp or not signature:
            return "not signed by Slack"
        if not self._verifier.is_valid(body, stamp, signature):
            return "bad signature, or a timestamp more than five minutes off"
        with self._lock:
            now = time.time()
            for seen, at in list(self._seen.items()):
                if now - at > WINDOW_SECONDS:
                    del self._seen[seen]
            if signature in self._seen:
                return "a request already received (replayed)"
            self._seen[signature] = now
        return None

    def person(self, user: str) -> str:
        """The oob person Slack user `user` is; `slack:<ID>` when the config does not say."""
        slack = self.config.services.slack
        mapped = slack.users.get(user) if slack is not None else None
        return mapped or f"slack:{user}"

    # -- the interactions ------------------------------------------------------------------------

    def interaction(
        self, payload: Mapping[str, Any], later: Callable[..., None]
    ) -> dict[str, Any] | None:
        """Answer one interaction payload; `later(fn, *args)` runs `fn` after the answer."""
        if payload.get("type") == "block_actions":
            click = _click(payload)
            if click is None:
                return None
            if click.action in FORMS:
                later(self.ask_reason, click, str(payload.get("trigger_id", "")))
            else:
                later(self.decide, click)
            return None
        if payload.get("type") == "view_submission":
            return self._submitted(payload, later)
        return None

    def _submitted(
        self, payload: Mapping[str, Any], later: Callable[..., None]
    ) -> dict[str, Any] | None:
        view = payload.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            action = Action(str(view.get("callback_id", "")).removeprefix(ACTION_PREFIX))
            value = view["state"]["values"][REASON][REASON].get("value") or ""
        except (ValueError, KeyError, TypeError):
            return None
        try:
            reason = check_text("--reason", str(value), required=True)
        except UsageError as exc:
            return {"response_action": "errors", "errors": {REASON: str(exc)}}
        user = str((payload.get("user") or {}).get("id", ""))
        click = Click(user, action, str(meta["run"]), str(meta["channel"]), str(meta["ts"]))
        later(self.decide, click, reason)
        return None

    def ask_reason(self, click: Click, trigger_id: str) -> None:
        """Open the form that asks for the reason of `click`'s decision."""
        title, submit, label = FORMS[click.action]
        view = {
            "type": "modal",
            "callback_id": ACTION_PREFIX + click.action.value,
            "private_metadata": json.dumps(
                {"run": click.run_id, "channel": click.channel_id, "ts": click.ts}
            ),
            "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": submit},
            "close": {"type": "plain_text", "text": "Back"},
            "blocks": [
                {
                    "type": "input",
                    "block_id": REASON,
                    "label": {"type": "plain_text", "text": label},
                    "element": {
                        "type": "plain_text_input",
                        "action_id": REASON,
                        "multiline": True,
                        "max_length": 2000,
                    },
                }
            ],
        }
        try:
            self._chat(click).open_modal(trigger_id, view)
        except OobError as exc:
            self._tell(click, f"Could not open the form: {exc}. Use `oob {click.action.value}`.")

    def decide(self, click: Click, text: str = "") -> None:
        """Take `click`'s decision, tell the person the answer, and settle the message."""
        actor = self.person(click.user)
        try:
            self.commands.decide(click.run_id, click.action, actor, text, source=Source.SLACK)
        except OobError as exc:
            said = f"Not done: {exc}"
            if actor.startswith("slack:"):
                said += (
                    f" Your Slack user ({click.user}) is not an oob person: ask an operator"
                    " to add it under [services.slack.users]."
                )
        else:
            said = DONE[click.action].format(run=click.run_id)
        self._tell(click, said)
        self._settle(click)

    def _chat(self, click: Click) -> SlackChat:
        """The Slack of the run `click` is about: its plan's (a fleet's worlds each have one)."""
        from oob.plan import thaw

        return self.services.chat(thaw(self.store.plan(click.run_id)))

    def _tell(self, click: Click, text: str) -> None:
        try:
            self._chat(click).tell(click.channel_id, click.user, slack_escape(text))
        except OobError as exc:
            log.warning("could not tell %s in Slack: %s", click.user, exc)

    def _settle(self, click: Click) -> None:
        """Replace the message's buttons with the decision taken on its question, if any."""
        topic = RULES[click.action].topic
        taken = self.store.taken(click.run_id).get(topic) if topic is not None else None
        posted = next(
            (
                PostedMessage(m.channel, "", click.ts)
                for m in map(MessagePosted.of, self.store.events(click.run_id))
                if m is not None and m.ts == click.ts
            ),
            None,
        )
        if taken is None or posted is None:  # undecided, or a message that is not oob's
            return
        try:
            answer = decided(taken.action.value, taken.actor, taken.at, taken.text)
            self._chat(click).settle(posted, answer)
        except OobError as exc:
            log.warning("could not update the Slack message %s: %s", click.ts, exc)

    # -- /oob ------------------------------------------------------------------------------------

    def command(self, form: Mapping[str, str]) -> dict[str, Any]:
        """`/oob status [RUN]`, `/oob runs`: an answer only the person sees."""
        from oob.readmodel import snapshot

        words = form.get("text", "").split()
        if self.person(form.get("user_id", "")).startswith("slack:"):
            text = (
                "Your Slack user is not an oob person: ask an operator to add it under"
                " [services.slack.users]."
            )
        elif words[:1] == ["runs"]:
            runs = self.store.runs(10)
            text = "\n".join(_line(r) for r in runs) or "No runs yet."
        elif words[:1] == ["status"]:
            run = self._run(words[1] if len(words) > 1 else None)
            if run is None:
                text = "No such run." if len(words) > 1 else "No run is active."
            else:
                now = datetime.fromtimestamp(self.now(), UTC)
                shot = snapshot(self.store, run.id, now)
                text = _line(run)
                if shot.waiting is not None:
                    text += f"\nWaiting for {shot.waiting.who} to {shot.waiting.what}."
                if shot.current_step:
                    text += f"\nNow: {shot.current_step}."
        else:
            text = "Usage: `/oob status [RUN]` or `/oob runs`."
        return {"response_type": "ephemeral", "text": text}

    def _run(self, run_id: str | None) -> Run | None:
        if run_id is not None:
            try:
                return self.store.run(run_id)
            except OobError:
                return None
        return next((r for r in self.store.runs(50) if r.active), None)


def _click(payload: Mapping[str, Any]) -> Click | None:
    """The decision a `block_actions` payload asks for; None if it is no button of oob's."""
    try:
        action = payload["actions"][0]
        name = str(action["action_id"])
        if not name.startswith(ACTION_PREFIX):
            return None
        return Click(
            user=str(payload["user"]["id"]),
            action=Action(name.removeprefix(ACTION_PREFIX)),
            run_id=str(action["value"]),
            channel_id=str(payload["container"]["channel_id"]),
            ts=str(payload["container"]["message_ts"]),
        )
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _line(run: Run) -> str:
    outcome = f" ({run.outcome.value})" if run.outcome else ""
    return slack_escape(
        f"{run.id} {run.pipeline}: {run.state.value}{outcome}, fix {run.fix_sha[:7]}"
    )


def interactions_for(
    config: Config,
    store: Store,
    commands: Control,
    *,
    now: Callable[[], float] = time.time,
    policy: RetryPolicy | None = None,
) -> Interactions | None:
    """The Slack interactions of `config`, if it names the Slack app's signing secret and it
    is set; None otherwise (oob's messages then carry no buttons, and `/slack/*` is absent)."""
    from oob.adapters.pool import Pool

    # The Slack app's signing secret and people are the installation's: the first pipeline's
    # [services.slack]; a click is answered in its run's own Slack.
    first = config.for_pipeline(config.pipeline_names[0])
    slack = first.services.slack
    secret = first.signing_secret(slack) if slack is not None else None
    if secret is None:
        return None
    return Interactions(first, store, commands, Pool(config, policy=policy), secret, now)


def slack_app(interactions: Interactions) -> FastAPI:
    """An app serving only Slack's requests (`oob serve` adds them to the dashboard, a
    rehearsal to Jenkins' notifications)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(routes(interactions))
    return app


def routes(interactions: Interactions) -> APIRouter:
    """`POST /slack/interactions` (the app's interactivity URL) and `POST /slack/commands`."""
    router = APIRouter(include_in_schema=False)

    async def verified_form(request: Request) -> dict[str, str] | Response:
        body = await request.body()
        if len(body) > BODY_LIMIT:
            return PlainTextResponse("request too large", 413)
        why = interactions.refusal(body, request.headers)
        if why is not None:
            log.warning("refused a Slack request from %s: %s", request.client, why)
            return PlainTextResponse(why, 401)
        form = parse_qs(body.decode("utf-8", "replace"))
        return {k: v[0] for k, v in form.items()}

    @router.post("/slack/interactions")
    async def interaction(request: Request, background: BackgroundTasks) -> Response:
        form = await verified_form(request)
        if isinstance(form, Response):
            return form
        try:
            payload = json.loads(form.get("payload", ""))
        except ValueError:
            return PlainTextResponse("no payload", 400)
        answer = interactions.interaction(payload, background.add_task)
        return JSONResponse(answer) if answer is not None else Response(status_code=200)

    @router.post("/slack/commands")
    async def command(request: Request) -> Response:
        form = await verified_form(request)
        if isinstance(form, Response):
            return form
        return JSONResponse(await anyio.to_thread.run_sync(interactions.command, form))

    return router
