"""The dashboard's deploy form: what `oob deploy` asks for, the pipeline chosen among the
config's, checked and started as `POST /api/runs` does (`Dashboard.deploy`).

A refused deploy shows the form again with what was typed and the error; a started one
redirects to the run's page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from oob.errors import OobError
from oob.web.actions import FieldError, status_of
from oob.web.api_models import DeployRequest
from oob.web.auth import Identity
from oob.web.dashboard import Dashboard
from oob.web.signin import PagePerson, SignedForm

FIELDS = ("pipeline", "fix", "symptoms", "cause", "fix_summary", "affects", "release_wait_minutes")
OPTIONAL = ("pipeline", "affects", "release_wait_minutes")  # left empty: the default


def deploy_routes(app: FastAPI, d: Dashboard) -> None:
    """`/deploy`: the form, and what it posts."""

    @app.get("/deploy", response_class=HTMLResponse, include_in_schema=False)
    async def deploy_page(identity: PagePerson) -> Response:
        return _form(d, identity)

    @app.post("/deploy", include_in_schema=False)
    async def deploy(identity: PagePerson, form: SignedForm) -> Response:
        typed = {name: form.get(name, "").strip() for name in FIELDS}
        try:
            run, _ = await d.call(d.deploy, identity.name, deploy_request(typed))
        except OobError as error:
            return _form(d, identity, typed, error)
        return RedirectResponse(f"/runs/{quote(run.id)}", status_code=303)


def deploy_request(typed: dict[str, str]) -> DeployRequest:
    """The form's fields as the API's request, or the `FieldError` saying which is wrong."""
    # An empty text is told as `oob deploy` tells it (`--cause must not be empty`).
    values: dict[str, Any] = {k: v for k, v in typed.items() if v or k not in OPTIONAL}
    try:
        return DeployRequest(**values)
    except ValidationError as invalid:
        problem = invalid.errors()[0]
        field = str(problem["loc"][0])
        raise FieldError(field, f"The {field.replace('_', ' ')}: {problem['msg']}.") from None


def _form(
    d: Dashboard,
    identity: Identity,
    typed: dict[str, str] | None = None,
    error: OobError | None = None,
) -> Response:
    return d.page(
        "deploy.html",
        status_of(error) if error is not None else 200,
        identity=identity,
        csrf=d.auth.csrf_token(identity),
        pipelines=d.config.pipeline_names,
        typed=typed or dict.fromkeys(FIELDS, ""),
        error=None if error is None else error.message,
        field=getattr(error, "field", None),
    )
