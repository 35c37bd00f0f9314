"""Section 508 / WCAG 2.1 AA: the dashboard in headless Chromium, with the keyboard and axe-core.

- Live updates keep the keyboard focus where it was (SC 2.4.3), on links, an action's summary
  and its submit button too, and the actions work from the keyboard across a live update.
- Only the state, the step and important timeline entries are announced (SC 4.1.3), not the
  ETA ticking down.
- The chart is read once (its drawing is hidden, its figures are text) and its bars stand out
  at 3:1 (SC 1.4.11) in both themes.
- After a form is sent, the reader is taken to what happened; errors are tied to their field.
- The sideways-scrolling history table scrolls from the keyboard.
- axe-core (vendored: `tests/web/vendor/axe.min.js`, MPL-2.0) finds no WCAG 2.0/2.1 A or AA
  violation on any page state, in light and dark mode, at desktop and phone width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from oob.errors import ProcedureError
from oob.store import RunState, Source, Store
from tests.web.conftest import (
    ONCALL_TOKEN,
    PO_TOKEN,
    VIEWER_TOKEN,
    Dashboard,
    FixedClock,
    request,
)
from tests.web.test_app import (
    build,
    deploying_run,
    ended_run,
    full_pipeline_finished,
    to_verifying,
    worker_event,
)
from tests.web.test_browser import DESKTOP, PHONE, signed_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RELEASE = "deploys/cms-auto-deploy"


def updates(page: Page) -> int:
    """How many live updates the page (a run's, or the runs page) has taken in."""
    return int(
        page.evaluate("Number(document.querySelector('[data-stream]').dataset.updates || 0)")
    )


def wait_updates(page: Page, count: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('[data-stream]').dataset.updates || 0) >= n",
        arg=count,
    )


def focused(page: Page) -> dict[str, Any]:
    """What has the keyboard focus: its tag, id, text and the action it belongs to."""
    return page.evaluate(  # type: ignore[no-any-return]
        """() => {
            const el = document.activeElement;
            const action = el.closest('[data-action]');
            return {tag: el.tagName, id: el.id, text: el.textContent.trim(),
                    action: action ? action.dataset.action : null};
        }"""
    )


def wait_focus(page: Page, element_id: str) -> None:
    """Until the element `element_id` has the focus (the page moves it once loaded)."""
    page.wait_for_function("id => document.activeElement.id === id", arg=element_id)


@contextmanager
def held_stream(page: Page) -> Iterator[Callable[[], None]]:
    """Hold the run page's live stream until the test lets it go (the callable yielded).

    The first live update resends every section; holding it lets the test be exactly where a
    reader is (an action opened, the focus on its button) when that update arrives.
    """
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/runs/*/stream", hold)

    def release() -> None:
        page.wait_for_function("() => true")  # lets Playwright deliver the held request
        assert len(held) == 1, "the page never opened its stream"
        held[0].continue_()

    yield release


def release_waiting_run(store: Store, clock: FixedClock) -> str:
    """A run whose release job started now: its ETA goes down as the clock moves."""
    run = store.create_run(request())
    for state in (RunState.PREFLIGHT, RunState.NOTIFYING, RunState.RELEASE_WAIT):
        store.transition(run.id, state)
    worker_event(
        store, run.id, "build.started", f"{RELEASE} #7 started", **build(RELEASE, 7, clock.now())
    )
    return run.id


# --- focus across live updates (SC 2.4.3) and the keyboard flows --------------------------------


def test_focus_on_a_chart_link_survives_a_redraw(browser: Browser, dashboard: Dashboard) -> None:
    store, clock = dashboard.store, dashboard.clock
    run_id = deploying_run(store, clock)
    with signed_in(browser, dashboard.url, VIEWER_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run_id}")
        wait_updates(page, 1)
        link = page.locator("#chart a", has_text="cms/cms-full-pipeline")
        link.focus()
        seen = updates(page)
        full_pipeline_finished(store, clock, run_id)
        wait_updates(page, seen + 1)
        assert page.locator("#chart li").nth(1).get_attribute("data-stage-status") == "SUCCESS"
        assert focused(page) == {
            "tag": "A",
            "id": "",
            "text": "cms/cms-full-pipeline",
            "action": None,
        }


def test_focus_on_an_action_survives_the_first_live_update(
    browser: Browser, dashboard: Dashboard
) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(browser, dashboard.url, PO_TOKEN) as page, held_stream(page) as release:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        page.locator("summary", has_text="Approve deploy…").focus()
        release()
        wait_updates(page, 1)
        assert focused(page) == {
            "tag": "SUMMARY",
            "id": "",
            "text": "Approve deploy…",
            "action": "approve",
        }


@dataclass(frozen=True)
class Flow:
    """An action taken from the keyboard: who, on which state, what they type, what they see."""

    action: str
    token: str
    summary: str
    text: str
    button: str
    notice: str
    recorded: tuple[str, str]  # the command called and its actor
    verifying: bool = False


FLOWS = [
    Flow(
        "approve",
        PO_TOKEN,
        "Approve deploy…",
        "go ahead",
        "Confirm: approve the deploy",
        "You approved the deploy.",
        ("approve", "cms-product-owner"),
    ),
    Flow(
        "deny",
        PO_TOKEN,
        "Deny…",
        "wait for the daily deploy",
        "Confirm: deny the deploy",
        "You denied the deploy.",
        ("deny", "cms-product-owner"),
    ),
    Flow(
        "cancel",
        PO_TOKEN,
        "Cancel run…",
        "a second regression in staging",
        "Confirm: cancel the run",
        "You cancelled the run.",
        ("cancel", "cms-product-owner"),
    ),
    Flow(
        "confirm-fix",
        ONCALL_TOKEN,
        "Confirm the fix works…",
        "logged in as an editor",
        "Confirm: the fix works in production",
        "You confirmed the fix.",
        ("confirm", "cms-oncall"),
        verifying=True,
    ),
]


@pytest.mark.parametrize("flow", FLOWS, ids=[f.action for f in FLOWS])
def test_an_action_from_the_keyboard_across_a_live_update(
    browser: Browser, dashboard: Dashboard, flow: Flow
) -> None:
    run = dashboard.store.create_run(request())
    if flow.verifying:
        to_verifying(dashboard.store, run.id)
    with signed_in(browser, dashboard.url, flow.token) as page, held_stream(page) as release:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        page.locator("summary", has_text=flow.summary).focus()
        page.keyboard.press("Enter")  # opens the confirmation step
        page.keyboard.press("Tab")  # into its text field
        page.keyboard.type(flow.text)
        page.keyboard.press("Tab")  # to the confirming button
        assert focused(page)["text"] == flow.button
        release()  # the first live update arrives now, replacing every section
        wait_updates(page, 1)
        assert focused(page) == {
            "tag": "BUTTON",
            "id": "",
            "text": flow.button,
            "action": flow.action,
        }
        details = page.locator(f"details[data-action='{flow.action}']")
        assert details.get_attribute("open") is not None
        page.keyboard.press("Enter")
        page.wait_for_selector(f"text={flow.notice}")
        # The page comes back with the focus on what happened.
        wait_focus(page, "notice")
        assert focused(page)["text"] == flow.notice
    verb, actor = flow.recorded
    assert dashboard.commands.calls == [(verb, run.id, actor, flow.text, Source.WEB)]


# --- what is announced (SC 4.1.3) ---------------------------------------------------------------


def test_only_the_state_step_and_important_entries_are_announced(
    browser: Browser, dashboard: Dashboard
) -> None:
    store, clock = dashboard.store, dashboard.clock
    run_id = release_waiting_run(store, clock)
    with signed_in(browser, dashboard.url, VIEWER_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run_id}")
        wait_updates(page, 1)
        # One live region in the run's live part, and the state is not it.
        assert page.locator("#state").get_attribute("aria-live") is None
        live = page.locator("#run [aria-live], #run [role=status], #run [role=alert]")
        assert live.evaluate_all("els => els.map(e => e.id)") == ["live-status", "announce"]
        page.evaluate(
            """() => {
                window.__said = [];
                new MutationObserver(() => {
                    const text = document.getElementById('announce').textContent;
                    if (text) window.__said.push(text);
                }).observe(document.getElementById('announce'),
                           {childList: true, characterData: true, subtree: true});
            }"""
        )
        assert page.locator("[data-eta]").inner_text() == "30 min"
        for minutes in (1, 2, 3):  # the ETA goes down: shown, not announced
            clock.at += timedelta(minutes=1)
            page.wait_for_selector(f"[data-eta]:has-text('{30 - minutes} min')")
        assert page.evaluate("window.__said") == []

        seen = updates(page)
        worker_event(
            store,
            run_id,
            "message.posted",
            "told editors in #cms-editors: deploy coming",
            channel="#cms-editors",
        )
        wait_updates(page, seen + 1)
        assert page.evaluate("window.__said") == []  # a routine entry: there to read

        started = clock.now() - timedelta(minutes=16)
        worker_event(
            store,
            run_id,
            "build.finished",
            f"{RELEASE} #7 ended SUCCESS",
            **build(RELEASE, 7, started, minutes=16),
        )
        page.wait_for_function(
            "() => window.__said.join(' ').includes('deploys/cms-auto-deploy #7 ended SUCCESS')"
        )
        store.transition(run_id, RunState.RELEASING)
        page.wait_for_function(
            "() => window.__said.join(' ').includes('Now: Checking the released commit')"
        )
        # Three ETA changes, a routine entry, a build's result, a new state: two announcements.
        assert len(page.evaluate("window.__said")) == 2


# --- the chart (SC 1.1.1, 1.4.11) ---------------------------------------------------------------


def contrast(rgb_a: str, rgb_b: str) -> float:
    """The WCAG contrast ratio of two CSS `rgb(r, g, b)` colours."""

    def luminance(rgb: str) -> float:
        channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(rgb_a), luminance(rgb_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_chart_is_read_once_and_its_bars_stand_out(
    browser: Browser, dashboard: Dashboard, scheme: str
) -> None:
    run_id = deploying_run(dashboard.store, dashboard.clock)
    with signed_in(browser, dashboard.url, VIEWER_TOKEN, color_scheme=scheme) as page:
        page.goto(f"{dashboard.url}/runs/{run_id}")
        svgs = page.locator("#chart svg")
        assert svgs.count() == 4
        # The figures beside each bar are the text; the drawing is hidden from screen readers.
        assert svgs.evaluate_all(
            "els => els.every(s => s.getAttribute('aria-hidden') === 'true'"
            " && !s.hasAttribute('aria-label'))"
        )
        colours = page.evaluate(
            """() => {
                const style = (sel) => getComputedStyle(document.querySelector(sel));
                const fill = (sel) => style(sel).fill;
                return {
                    card: style('#chart-h').backgroundColor === 'rgba(0, 0, 0, 0)'
                        ? getComputedStyle(document.querySelector('#chart').closest('.card'))
                            .backgroundColor
                        : style('#chart-h').backgroundColor,
                    est: fill('#chart rect.est'),
                    done: fill('#chart rect.act.done'),
                    running: fill('#chart rect.act.running'),
                };
            }"""
        )
    card = colours.pop("card")
    for bar, colour in colours.items():
        assert contrast(colour, card) >= 3, (scheme, bar, colour, card)


# --- after a submit; errors tied to fields; the history table -----------------------------------


def test_a_sign_in_error_takes_the_focus_and_is_tied_to_the_field(
    browser: Browser, dashboard: Dashboard
) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(dashboard.url + "/login")
        page.get_by_label("Your dashboard token").fill("a wrong token")
        page.keyboard.press("Enter")
        page.wait_for_selector("text=That token is not valid.")
        wait_focus(page, "token-error")
        assert focused(page) == {
            "tag": "P",
            "id": "token-error",
            "text": "That token is not valid.",
            "action": None,
        }
        field = page.locator("#token")
        assert field.get_attribute("aria-invalid") == "true"
        assert field.get_attribute("aria-describedby") == "token-error"
    finally:
        ctx.close()


def test_a_refused_action_takes_the_focus_to_why(browser: Browser, dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    dashboard.commands.refuse = ProcedureError("run is not waiting for approval")
    with signed_in(browser, dashboard.url, PO_TOKEN) as page:
        page.goto(f"{dashboard.url}/runs/{run.id}")
        page.get_by_text("Approve deploy…").click()
        page.get_by_role("button", name="Confirm: approve the deploy").click()
        page.wait_for_selector("text=run is not waiting for approval")
        wait_focus(page, "error")
        # The form comes back open, for another try.
        assert page.locator("details[data-action='approve']").get_attribute("open") is not None


def test_the_history_table_scrolls_from_the_keyboard(
    browser: Browser, dashboard: Dashboard
) -> None:
    store, clock = dashboard.store, dashboard.clock
    for outcome in (RunState.RESOLVED, RunState.DENIED, RunState.CANCELLED):
        ended_run(store, clock, outcome)
    with signed_in(browser, dashboard.url, VIEWER_TOKEN, **PHONE) as page:
        # The runs page is live: its first update resends every section; act after it.
        page.wait_for_function("() => Number(document.querySelector('#runs').dataset.updates) >= 1")
        region = page.locator("#history .scroll")
        assert region.evaluate("el => el.scrollWidth > el.clientWidth")  # it does scroll
        for _ in range(30):  # Tab through the page until the table's region has the focus
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('scroll')"):
                break
        else:
            pytest.fail("the history table cannot be reached with the keyboard")
        assert region.get_attribute("role") == "region"
        assert region.get_attribute("aria-labelledby") == "history-h"
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('#history .scroll').scrollLeft > 0")
        page.evaluate(
            "() => swap(document.getElementById('history'), "
            "document.getElementById('history').innerHTML)"
        )  # a live update of the history, as the stream sends it: the reader stays put
        assert region.evaluate("el => el.scrollLeft") > 0


# --- axe-core over every page state -------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """A page to check: how to reach it (after `setup` wrote runs to the store), and as whom."""

    name: str
    token: str | None  # None: the sign-in page, not signed in
    setup: Callable[[Dashboard], str]  # returns the path to open
    act: Callable[[Page], None] | None = None  # what the reader then does on the page


def _sign_in(_d: Dashboard) -> str:
    return "/login"


def _wrong_token(page: Page) -> None:
    page.get_by_label("Your dashboard token").fill("wrong")
    page.keyboard.press("Enter")
    page.wait_for_selector("#token-error")


def _runs(d: Dashboard) -> str:
    ended_run(d.store, d.clock, RunState.RESOLVED, requester="bob", symptoms="Login broken")
    ended_run(d.store, d.clock, RunState.DENIED, requester="alice")
    deploying_run(d.store, d.clock)
    return "/"


def _pipelines(d: Dashboard) -> str:
    _runs(d)
    other = d.store.create_run(request(pipeline="va-gov", symptoms="Search is down"))
    d.store.transition(other.id, RunState.PREFLIGHT)
    return "/"


def _awaiting(d: Dashboard) -> str:
    return f"/runs/{d.store.create_run(request()).id}"


def _preflight(d: Dashboard) -> str:
    run = d.store.create_run(request())
    d.store.transition(run.id, RunState.PREFLIGHT)
    return f"/runs/{run.id}"


def _release_wait(d: Dashboard) -> str:
    return f"/runs/{release_waiting_run(d.store, d.clock)}"


def _deploying(d: Dashboard) -> str:
    return f"/runs/{deploying_run(d.store, d.clock)}"


def _verifying(d: Dashboard) -> str:
    run_id = deploying_run(d.store, d.clock)
    d.store.transition(run_id, RunState.VERIFYING)
    return f"/runs/{run_id}"


def _resolved(d: Dashboard) -> str:
    run_id = deploying_run(d.store, d.clock)
    for state in (RunState.VERIFYING, RunState.CLOSING, RunState.RESOLVED):
        d.store.transition(run_id, state)
    return f"/runs/{run_id}"


def _approved(d: Dashboard) -> str:
    return f"/runs/{d.store.create_run(request()).id}?done=approve"


def _deny_too_long(page: Page) -> None:
    # Past the field's maxlength, as a script or an old browser could send it. After the first
    # live update, which resends every section: a click whose button is replaced between its
    # mouse down and up lands on nothing (the form is not sent), under load now and then.
    wait_updates(page, 1)
    page.get_by_text("Deny…").click()
    page.locator("#deny-reason").evaluate("el => { el.value = 'x'.repeat(2001); }")
    page.get_by_role("button", name="Confirm: deny the deploy").click()
    page.wait_for_selector("#error")


def _missing(_d: Dashboard) -> str:
    return "/runs/no-such-run"


def _deploy_form(_d: Dashboard) -> str:
    return "/deploy"


def _deploy_refused(page: Page) -> None:
    """A deploy with an empty cause: the form again, the error announced."""
    page.get_by_label("Fix commit").fill("bbb7e0e")
    page.get_by_label("What is broken").fill("Editors cannot log in")
    page.get_by_label("The root cause, simply put").fill(" ")
    page.get_by_label("What the fix does").fill("reverted the PR")
    page.get_by_role("button", name="Ask for approval").click()
    page.wait_for_selector("#error")


STATES = [
    State("sign-in", None, _sign_in),
    State("sign-in-error", None, _sign_in, _wrong_token),
    State("runs", VIEWER_TOKEN, _runs),
    State("runs-by-pipeline", ONCALL_TOKEN, _pipelines),
    State("awaiting-approval", PO_TOKEN, _awaiting),
    State("approved-notice", PO_TOKEN, _approved),
    State("refused-form", PO_TOKEN, _awaiting, _deny_too_long),
    State("not-found", VIEWER_TOKEN, _missing),
    State("deploy-form", ONCALL_TOKEN, _deploy_form),
    State("deploy-refused", ONCALL_TOKEN, _deploy_form, _deploy_refused),
    State("preflight", ONCALL_TOKEN, _preflight),
    State("release-wait", ONCALL_TOKEN, _release_wait),
    State("deploying", VIEWER_TOKEN, _deploying),
    State("verifying", ONCALL_TOKEN, _verifying),
    State("resolved", PO_TOKEN, _resolved),
]
# Two widths, two themes: each state is checked in all four.
VIEWS = [
    (viewport, scheme)
    for viewport in (DESKTOP["viewport"], PHONE["viewport"])
    for scheme in ("light", "dark")
]


@contextmanager
def reader(browser: Browser, url: str, token: str | None) -> Iterator[Page]:
    """A page signed in with `token`, or (None) one that is not signed in."""
    if token is not None:
        with signed_in(browser, url, token) as page:
            yield page
        return
    ctx = browser.new_context()
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is now, one line each."""
    # Evaluated through the DevTools protocol: the page's Content-Security-Policy stays on.
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v =>
                `${v.id} (${v.impact}): ${v.help} at ` +
                v.nodes.map(n => n.target.join(' ')).join(', '));
        }""",
        AXE_TAGS,
    )
    return list(found)


@pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
def test_axe_finds_no_wcag_violation(browser: Browser, dashboard: Dashboard, state: State) -> None:
    path = state.setup(dashboard)
    problems = {}
    with reader(browser, dashboard.url, state.token) as page:
        for viewport, scheme in VIEWS:
            page.set_viewport_size(viewport)
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            page.goto(dashboard.url + path)
            if state.act is not None:
                state.act(page)
            if page.locator("[data-stream][data-active=yes]").count():
                wait_updates(page, 1)  # as the reader sees it once live
            # Every action's confirmation step open, as someone about to confirm sees it.
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            found = axe_violations(page)
            if found:
                problems[f"{viewport['width']}px {scheme}"] = found
    assert problems == {}


def test_axe_sees_a_violation_when_there_is_one(browser: Browser, dashboard: Dashboard) -> None:
    # The check above could pass by never running: here axe must find what was broken on purpose.
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(dashboard.url + "/login")
        page.evaluate("document.getElementById('token').removeAttribute('id')")  # label lost
        assert any(v.startswith("label ") for v in axe_violations(page))
    finally:
        ctx.close()
