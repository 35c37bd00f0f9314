"""What a person's action on a run becomes: the command it is handed to, or why it is refused.

The page's forms and the JSON API both end here, so that a click and an API call are checked
and recorded alike (`Source.WEB`).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from oob.errors import OobError, PermissionDenied, ProcedureError, RunNotFound, UsageError
from oob.store import Source
from oob.web.api_models import ActionRequest
from oob.web.auth import Action
from oob.web.settings import Settings

NEEDS_REASON = (Action.DENY, Action.CANCEL, Action.REJECT_FIX, Action.OVERRIDE_STATUS)


class FieldError(UsageError):
    """A form field's text is missing or too long: `field` names it, for the page to mark."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def perform(
    settings: Settings, action: Action, run_id: str, actor: str, body: ActionRequest
) -> None:
    """Hand `action` to its command as coming from the web, after checking its text is there."""
    if action in NEEDS_REASON and not body.reason.strip():
        raise FieldError("reason", f"{action.value} needs a reason")
    if action is Action.OVERRIDE_STATUS:
        # A status of the run's fix commit: the one pre-flight waits on.
        sha = settings.store.run(run_id).fix_sha
        texts = body.model_dump(include={"context", "reason"})
        settings.override_status(actor=actor, sha=sha, source=Source.WEB, run_id=run_id, **texts)
        return
    commands = settings.commands
    decisions: dict[Action, tuple[Callable[..., object], str]] = {
        Action.APPROVE: (commands.approve, body.note),
        Action.DENY: (commands.deny, body.reason),
        Action.CANCEL: (commands.cancel, body.reason),
        Action.CONFIRM_FIX: (commands.confirm_fix, body.note),
        Action.REJECT_FIX: (commands.reject_fix, body.reason),
    }
    command, text = decisions[action]
    command(run_id, actor, text.strip(), source=Source.WEB)


def status_of(error: OobError) -> int:
    """The HTTP status that says what went wrong."""
    if isinstance(error, RunNotFound):
        return 404
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, ProcedureError):
        return 409
    return 400


def action_request(form: dict[str, str]) -> ActionRequest:
    """A form's action fields, or the `FieldError` that says which is too long."""
    values = {name: form.get(name, "") for name in ActionRequest.model_fields}
    try:
        return ActionRequest(**values)
    except ValidationError as invalid:
        problem = invalid.errors()[0]
        field = str(problem["loc"][0])
        limit = (problem.get("ctx") or {}).get("max_length")
        if limit is None:
            raise FieldError(field, f"The {field} is not valid: {problem['msg']}.") from None
        raise FieldError(
            field,
            f"The {field} is too long: at most {limit:,} characters; "
            f"this one has {len(values[field]):,}.",
        ) from None
