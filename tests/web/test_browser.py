"""The dashboard in a real headless Chromium, against runs written to the store.

These check what only a browser shows: the confirmation step of an action, live updates over
server-sent events without a reload, what a user without a role sees, that the page refuses
requests forged from within it, and the layout at desktop and phone widths (screenshots).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from oob.store import RunState, Source
from tests.web.conftest import (
    PO_TOKEN,
    SCREENSHOTS,
    VIEWER_TOKEN,
    Dashboard,
    request,
)
from tests.web.test_app import build, deploying_run, full_pipeline_finished, worker_event

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 1000}}


@contextmanager
def signed_in(browser: Browser, url: str, token: str, **context: Any) -> Iterator[Page]:
    """A page of a fresh browser context, signed in at the dashboard `url` with `token`."""
    ctx = browser.new_context(**context)
    try:
        page = ctx.new_page()
        page.goto(url + "/")
        page.get_by_label("Your dashboard token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("text=Signed in as")
        yield page
    finally:
        ctx.close()


def test_approving_asks_for_confirmation_and_names_the_actor(
    browser: Browser, dashboard: Dashboard
) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(browser, dashboard.url, PO_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        confirm = page.get_by_role("button", name="Confirm: approve the deploy")
        assert not confirm.is_visible()  # one click is never enough
        page.get_by_text("Approve deploy…").click()
        page.get_by_label("Note (optional)").fill("go ahead")
        confirm.click()
        page.wait_for_selector("text=You approved the deploy.")
    assert dashboard.commands.calls == [
        ("approve", run.id, "cms-product-owner", "go ahead", Source.WEB)
    ]


def test_a_live_update_keeps_the_opened_action_and_what_was_typed(
    browser: Browser, dashboard: Dashboard
) -> None:
    # The first update after loading resends every section, often just as someone opens an
    # action: the swap must not close the form or drop the text.
    run = dashboard.store.create_run(request())
    with signed_in(browser, dashboard.url, PO_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        page.get_by_text("Deny…").click()
        reason = page.locator("#deny-reason")
        reason.fill("wait for the daily deploy")
        reason.focus()
        page.evaluate(
            "swap(document.getElementById('actions'), document.getElementById('actions').innerHTML)"
        )
        assert page.locator("details[data-action='deny']").get_attribute("open") is not None
        assert page.locator("details[data-action='approve']").get_attribute("open") is None
        assert reason.input_value() == "wait for the daily deploy"
        assert page.evaluate("document.activeElement.id") == "deny-reason"


def test_actions_work_from_the_keyboard(browser: Browser, dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(browser, dashboard.url, PO_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        page.locator("summary", has_text="Deny…").focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")  # into the reason
        page.keyboard.type("wait for the daily deploy")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector("text=You denied the deploy.")
    assert dashboard.commands.calls == [
        ("deny", run.id, "cms-product-owner", "wait for the daily deploy", Source.WEB)
    ]


def test_a_user_without_a_role_sees_no_action_and_cannot_forge_one(
    browser: Browser, dashboard: Dashboard
) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(browser, dashboard.url, PO_TOKEN) as po_page:
        po_page.goto(f"{dashboard.url}/runs/{run.id}")
        po_csrf = po_page.locator('input[name="csrf_token"]').first.input_value()
    with signed_in(browser, dashboard.url, VIEWER_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        assert page.locator("[data-no-actions]").is_visible()
        assert page.locator("details.action").count() == 0
        # Requests forged from within the page: no token, a made-up one, someone else's.
        statuses = page.evaluate(
            """async ([path, stolen]) => {
                const post = (body) =>
                    fetch(path, {method: "POST", body: new URLSearchParams(body)});
                return [
                    (await post({note: "x"})).status,
                    (await post({csrf_token: "made-up"})).status,
                    (await post({csrf_token: stolen})).status,
                ];
            }""",
            [f"/runs/{run.id}/actions/approve", po_csrf],
        )
        assert statuses == [403, 403, 403]
    assert dashboard.commands.calls == []


def test_the_run_page_updates_live_without_reloading(
    browser: Browser, dashboard: Dashboard
) -> None:
    store, clock = dashboard.store, dashboard.clock
    run_id = deploying_run(store, clock)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with signed_in(browser, dashboard.url, PO_TOKEN, **DESKTOP) as page:
        page.goto(f"{dashboard.url}/runs/{run_id}")
        page.evaluate("window.__notReloaded = true")
        assert page.locator("[data-state]").get_attribute("data-state") == "deploying"
        assert page.locator("[data-eta]").inner_text() == "8 min"
        page.screenshot(path=SCREENSHOTS / "run-page-desktop.png", full_page=True)

        # The worker moves on: the full pipeline ends, releases/cms starts, 2 minutes pass.
        release = "releases/cms"
        full_pipeline_finished(store, clock, run_id)
        worker_event(
            store,
            run_id,
            "build.started",
            f"{release} #9 started",
            **build(release, 9, clock.now()),
        )
        page.wait_for_selector(f"#builds a:has-text('{release} #9')")
        assert page.locator("#chart li").nth(1).get_attribute("data-stage-status") == "SUCCESS"
        assert page.locator("[data-eta]").inner_text() == "8 min"  # 1 + 7 ahead

        # Then the run ends: the state, the actions and the stream all say so.
        store.transition(run_id, RunState.CLOSING)
        store.transition(run_id, RunState.RESOLVED)
        page.wait_for_selector("[data-state='resolved']")
        page.wait_for_selector("#live-status:has-text('The run has ended.')")
        assert page.locator("details.action").count() == 0
        assert page.evaluate("window.__notReloaded") is True

    with signed_in(browser, dashboard.url, PO_TOKEN, **PHONE) as phone:
        phone.goto(f"{dashboard.url}/runs/{run_id}")
        # Nothing is wider than the phone's screen: no sideways scrolling.
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        phone.screenshot(path=SCREENSHOTS / "run-page-phone.png", full_page=True)
    assert (SCREENSHOTS / "run-page-desktop.png").stat().st_size > 0
    assert (SCREENSHOTS / "run-page-phone.png").stat().st_size > 0
