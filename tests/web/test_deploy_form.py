"""The dashboard's deploy form: it offers the config's pipelines, and a deploy it cannot start
shows the form again with what was typed and why, as `oob deploy` would say it."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from oob.config import Config, parse
from tests.many import many_pipelines
from tests.web.conftest import ONCALL_TOKEN, PO_TOKEN, TOKENS_WEB, VIEWER_TOKEN, Dashboard, request
from tests.web.test_app import csrf_of, signed_in

FORMS = '[pipelines.forms.services.github]\nrepository = "org/forms"\n'
TYPED = {
    "fix": "bbb7e0e",
    "symptoms": "Editors cannot log in",
    "cause": "bad module update",
    "fix_summary": "reverted the PR",
}


@pytest.fixture
def web_config(preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Two pipelines, `va-cms` and `forms`, with the dashboard's three users."""
    monkeypatch.setenv("OOB_TEST_WEB_PO", PO_TOKEN)
    monkeypatch.setenv("OOB_TEST_WEB_VIEWER", VIEWER_TOKEN)
    return parse(many_pipelines(preset_text, {"forms": FORMS}) + TOKENS_WEB, tmp_path / "oob.toml")


def test_the_form_offers_the_pipelines_and_says_what_refused_a_deploy(
    dashboard: Dashboard,
) -> None:
    holder = dashboard.store.create_run(request(pipeline="forms"))
    with signed_in(dashboard, ONCALL_TOKEN) as client:
        page = client.get("/deploy").text
        assert re.findall(r"<option>([^<]+)</option>", page) == ["va-cms", "forms"]
        csrf = csrf_of(page)

        def post(**changes: str) -> tuple[int, str]:
            answer = client.post("/deploy", data={"csrf_token": csrf, **TYPED, **changes})
            return answer.status_code, html.unescape(answer.text)

        status, unchosen = post()
        assert status == 400
        assert "2 pipelines (va-cms, forms): say which one" in unchosen
        status, busy = post(pipeline="forms")
        assert status == 409
        assert f"run {holder.id} of forms is active" in busy
        assert "<option selected>forms</option>" in busy  # what was typed stays
        assert ">Editors cannot log in</textarea>" in busy
        status, empty = post(pipeline="va-cms", cause=" ")
        assert (status, "--cause must not be empty" in empty) == (400, True)
        status, unknown = post(pipeline="nope")
        assert (status, "no pipeline 'nope'" in unknown) == (400, True)
        assert client.post("/deploy", data={**TYPED, "csrf_token": "forged"}).status_code == 403
    with signed_in(dashboard, VIEWER_TOKEN) as viewer:
        page = viewer.get("/deploy").text
        answer = viewer.post(
            "/deploy", data={"csrf_token": csrf_of(page), "pipeline": "va-cms", **TYPED}
        )
        assert answer.status_code == 403
        assert "cms-viewer" in html.unescape(answer.text)
    assert [r.id for r in dashboard.store.runs()] == [holder.id]


def test_the_runs_page_links_to_the_form(dashboard: Dashboard) -> None:
    with signed_in(dashboard, PO_TOKEN) as client:
        assert 'href="/deploy"' in client.get("/").text
