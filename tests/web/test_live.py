"""The dashboard during real runs: the sandbox, a worker executing the procedure on DBOS, the
real command functions (`oob.commands.Control`), and headless Chromium.

The product owner approves through the page and watches the run go to production without
reloading; on-call confirms the fix; another run is cancelled through the page during its
release wait. Every action lands in the run's audit log with its actor and the `web` source.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oob.adapters.pool import Pool
from oob.clock import EpochClock
from oob.commands import Control
from oob.config import Config, parse
from oob.override import override_in
from oob.procedure import Tuning, finished
from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import RunRequest, RunState, Store
from oob.web.app import Settings, create_app
from oob.web.auth import Authenticator
from oob.worker import WorkerOptions, make_runtime, serve
from tests.web.conftest import SCREENSHOTS, serving
from tests.web.test_browser import DESKTOP, PHONE, signed_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Sandbox seconds per real second: the 15-minute release wait lasts under 4 seconds.
TIME_SCALE = 240
# The sandbox config's people (operator deploys, po approves, helpdesk confirms) and a viewer.
TOKENS = {name: f"{name}-token-0123456789" for name in ("operator", "po", "helpdesk", "viewer")}
WEB = '[web]\nidentity = "tokens"\n' + "".join(
    f'[web.users.{name}]\ntoken_env = "OOB_TEST_WEB_{name.upper()}"\n' for name in TOKENS
)
# Generous bounds for page conditions that the run reaches on its own.
RUN_TIMEOUT_MS = 120_000


@dataclass
class Live:
    url: str
    config: Config
    store: Store
    control: Control
    sandbox: SandboxServer

    def start(self, release_wait_minutes: float = 15) -> str:
        asked = RunRequest(
            pipeline=self.config.pipeline.name,
            requester="operator",
            fix_sha=str(self.sandbox.state()["fix_sha"]),
            symptoms="Editors cannot log in",
            affects="all CMS editors",
            cause="bad module update",
            fix_summary="revert the module update",
            release_wait_minutes=release_wait_minutes,
        )
        return self.control.start(self.config, asked).id

    def audit(self, run_id: str) -> list[tuple[str, str, str]]:
        return [(e.kind, e.actor, e.source.value) for e in self.store.events(run_id)]


@pytest.fixture
def live(
    request: pytest.FixtureRequest,
    browser: Browser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Live]:
    """A sandbox playing a scenario (`happy`, or the test's indirect parameter), a worker, and
    the dashboard with the real commands."""
    scenario = getattr(request, "param", "happy")
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, token in TOKENS.items():
        monkeypatch.setenv(f"OOB_TEST_WEB_{name.upper()}", token)
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            SandboxServer(Options(scenario=scenario, time_scale=TIME_SCALE))
        )
        text = render_config(sandbox.url, sandbox.options.token) + WEB
        config = parse(text, tmp_path / "oob.toml")
        url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
        store = Store(url, clock=EpochClock(sandbox.world.clock.now))  # the run's one clock
        stack.callback(store.close)
        services = stack.enter_context(Pool(config))

        runtime = make_runtime(
            store,
            services,
            drafts=tmp_path / "postmortems",
            tuning=Tuning(poll_seconds=0.1, time_scale=TIME_SCALE, trigger_settle_seconds=0.5),
        )
        stop = threading.Event()
        ready = threading.Event()
        options = WorkerOptions(heartbeat_seconds=0.2, polling_seconds=0.05)
        worker = threading.Thread(
            target=serve, args=(runtime, url, options, stop, lambda _line: ready.set())
        )
        worker.start()

        def stop_worker() -> None:
            # A run reaches its outcome before its postmortem step: let that step finish before
            # the services it uses are closed.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(
                finished(store.events(run.id)) for run in store.runs() if not run.active
            ):
                time.sleep(0.05)
            stop.set()
            worker.join(60)

        stack.callback(stop_worker)
        assert ready.wait(60)
        control = Control(store, url)
        settings = Settings(
            config=config,
            store=store,
            commands=control,
            override_status=partial(override_in, config, services, store, clock=store.clock),
            authenticator=Authenticator(config.web, store.clock),  # type: ignore[arg-type]
            poll_seconds=0.1,
            time_scale=TIME_SCALE,
        )
        dashboard_url = stack.enter_context(serving(create_app(settings)))
        yield Live(dashboard_url, config, store, control, sandbox)


def wait_state(page: Page, state: str) -> None:
    page.wait_for_selector(f"[data-state='{state}']", timeout=RUN_TIMEOUT_MS)


def test_product_owner_approves_and_watches_the_deploy_live(browser: Browser, live: Live) -> None:
    run_id = live.start()
    page_url = f"{live.url}/runs/{run_id}"
    with signed_in(browser, live.url, TOKENS["viewer"]) as viewer:
        viewer.goto(page_url)
        wait_state(viewer, "awaiting_approval")
        assert viewer.locator("details.action").count() == 0

    with signed_in(browser, live.url, TOKENS["po"], **DESKTOP) as page:
        page.goto(page_url)
        # The request reaches the product owner before they can approve it.
        page.wait_for_selector("#messages :text('cms-product')", timeout=RUN_TIMEOUT_MS)
        page.get_by_text("Approve deploy…").click()
        page.get_by_label("Note (optional)").fill("approved from the dashboard")
        page.get_by_role("button", name="Confirm: approve the deploy").click()
        page.wait_for_selector("text=You approved the deploy.")
        page.evaluate("window.__notReloaded = true")

        # From here on the page only listens: every change arrives over the stream.
        wait_state(page, "release_wait")
        page.wait_for_selector(
            "#builds a:has-text('deploys/cms-auto-deploy')", timeout=RUN_TIMEOUT_MS
        )
        wait_state(page, "verifying")
        statuses = page.locator("#chart li").evaluate_all(
            "items => items.map(li => li.dataset.stageStatus)"
        )
        assert statuses == ["SUCCESS"] * 4
        assert page.locator("details.action").count() == 0  # confirming is on-call's part
        page.screenshot(path=SCREENSHOTS / "live-run-desktop.png", full_page=True)

        with signed_in(browser, live.url, TOKENS["helpdesk"], **PHONE) as phone:
            phone.goto(page_url)
            phone.get_by_text("Confirm the fix works…").click()
            phone.get_by_label("What you checked (optional)").fill("logged in as an editor")
            phone.get_by_role("button", name="Confirm: the fix works in production").click()
            phone.wait_for_selector("text=You confirmed the fix.")
            wait_state(phone, "resolved")
            phone.screenshot(path=SCREENSHOTS / "live-run-phone.png", full_page=True)

        wait_state(page, "resolved")
        page.wait_for_selector("#live-status:has-text('The run has ended.')")
        assert page.evaluate("window.__notReloaded") is True
        # Every message sent links to it in Slack: in a drill, the sandbox's page of it.
        links = page.locator("#messages a").evaluate_all("links => links.map(a => a.href)")
        assert links
        assert all(link.startswith(f"{live.sandbox.url}/web/slack/archives/") for link in links)

    audit = live.audit(run_id)
    assert ("approval.approved", "po", "web") in audit
    assert ("verify.confirmed", "helpdesk", "web") in audit
    assert live.store.run(run_id).outcome is RunState.RESOLVED


def test_on_call_cancels_a_run_during_its_release_wait(browser: Browser, live: Live) -> None:
    # A long wait (sandbox minutes) keeps the cancel window open while the page is used.
    run_id = live.start(release_wait_minutes=24 * 60)
    with signed_in(browser, live.url, TOKENS["po"]) as po:
        po.goto(f"{live.url}/runs/{run_id}")
        po.get_by_text("Approve deploy…").click()
        po.get_by_role("button", name="Confirm: approve the deploy").click()
        po.wait_for_selector("text=You approved the deploy.")
    with signed_in(browser, live.url, TOKENS["operator"]) as page:
        page.goto(f"{live.url}/runs/{run_id}")
        wait_state(page, "release_wait")
        page.wait_for_selector(
            "#builds a:has-text('deploys/cms-auto-deploy')", timeout=RUN_TIMEOUT_MS
        )
        page.get_by_text("Cancel run…").click()
        page.get_by_label("Reason").fill("a second regression found in staging")
        page.get_by_role("button", name="Confirm: cancel the run").click()
        page.wait_for_selector("text=You cancelled the run.")
        wait_state(page, "cancelled")
    run = live.store.run(run_id)
    assert run.outcome is RunState.CANCELLED
    assert ("run.cancelled", "operator", "web") in live.audit(run_id)
    stops = [e for e in live.sandbox.ledger() if e["path"].endswith("/stop")]
    assert len(stops) == 1


@pytest.mark.parametrize("live", ["flaky-cypress"], indirect=True)
def test_operator_overrides_a_flaky_status_that_holds_pre_flight(
    browser: Browser, live: Live
) -> None:
    run_id = live.start()
    live.control.approve(run_id, "po", "go")
    with signed_in(browser, live.url, TOKENS["operator"]) as page:
        page.goto(f"{live.url}/runs/{run_id}")
        wait_state(page, "preflight")
        page.wait_for_selector("#events :text('va/tests/cypress')", timeout=RUN_TIMEOUT_MS)
        page.get_by_text("Override a status…").click()
        page.get_by_label("Status of the fix commit").select_option("va/tests/cypress")
        page.get_by_label("Why it failed spuriously").fill("known flaky login test")
        page.get_by_role("button", name="Confirm: override the status").click()
        page.wait_for_selector("text=You overrode the status.")
        wait_state(page, "release_wait")  # pre-flight saw the status pass
        live.control.cancel(run_id, "operator", "the test has seen enough")
        wait_state(page, "cancelled")
    assert ("status.overridden", "operator", "web") in live.audit(run_id)
    posted = [e for e in live.sandbox.ledger() if "/statuses/" in e["path"]]
    assert len(posted) == 1
