"""Fixtures of the dashboard tests: a config with dashboard users, a store, a real server, and
headless Chromium from Debian driven by Playwright.

Playwright's own browser download is never used: the browser tests launch the system's
`/usr/bin/chromium`, and are skipped, saying why, when it is absent.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from oob.config import Config, parse
from oob.errors import OobError
from oob.store import Run, RunRequest, Source, Store
from tests.support import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

PO_TOKEN = "po-token-0123456789"
ONCALL_TOKEN = "oncall-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789"

TOKENS_WEB = f"""
[web]
identity = "tokens"
[web.users.cms-product-owner]
token_env = "OOB_TEST_WEB_PO"
[web.users.cms-oncall]
token_sha256 = "{hashlib.sha256(ONCALL_TOKEN.encode()).hexdigest()}"
[web.users.cms-viewer]
token_env = "OOB_TEST_WEB_VIEWER"
"""


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@dataclass
class RecordingCommands:
    """Stands in for `oob.commands.Control` in page and API tests: records what it is asked.

    `refuse` makes every call raise that error, as Control does when it refuses.
    """

    calls: list[tuple[str, str, str, str, Source]] = field(default_factory=list)
    refuse: OobError | None = None

    def _record(self, verb: str, run_id: str, actor: str, text: str, source: Source) -> Any:
        if self.refuse is not None:
            raise self.refuse
        self.calls.append((verb, run_id, actor, text, source))

    def approve(self, run_id: str, actor: str, note: str = "", source: Source = Source.CLI) -> Run:
        return self._record("approve", run_id, actor, note, source)  # type: ignore[no-any-return]

    def deny(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        return self._record("deny", run_id, actor, reason, source)  # type: ignore[no-any-return]

    def cancel(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        return self._record("cancel", run_id, actor, reason, source)  # type: ignore[no-any-return]

    def confirm_fix(
        self, run_id: str, actor: str, note: str = "", source: Source = Source.CLI
    ) -> Run:
        return self._record("confirm", run_id, actor, note, source)  # type: ignore[no-any-return]

    def reject_fix(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        return self._record("reject", run_id, actor, reason, source)  # type: ignore[no-any-return]

    def override_status(
        self, *, actor: str, sha: str, context: str, reason: str, source: Source, run_id: str
    ) -> object:
        return self._record("override", sha, actor, f"{context}: {reason}", source)


@pytest.fixture
def web_config(preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The va-cms preset with three dashboard users: the product owner, on-call, a viewer."""
    monkeypatch.setenv("OOB_TEST_WEB_PO", PO_TOKEN)
    monkeypatch.setenv("OOB_TEST_WEB_VIEWER", VIEWER_TOKEN)
    return parse(preset_text + TOKENS_WEB, tmp_path / "oob.toml")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 4, 10, 0, tzinfo=UTC))


class PlannedStore(Store):
    """The store, where a run a test creates follows the dashboard's config as its plan."""

    def __init__(self, url: str, clock: FixedClock, config: Config) -> None:
        super().__init__(url, clock=clock)
        self.config = config

    def create_run(
        self, request: RunRequest, plan: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> Run:
        from oob.plan import freeze

        many = len(self.config.pipeline_names) > 1  # else any pipeline name follows the one
        chosen = self.config.for_pipeline(request.pipeline) if many else self.config
        return super().create_run(request, plan or freeze(chosen), run_id)


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock, web_config: Config) -> Iterator[Store]:
    store = PlannedStore(f"sqlite:///{tmp_path / 'oob.sqlite'}", clock, web_config)
    yield store
    store.close()


def request(requester: str = "cms-oncall", **changes: Any) -> RunRequest:
    values: dict[str, Any] = {
        "pipeline": "va-cms",
        "requester": requester,
        "fix_sha": "bbb7e0e809e17766a5df478c95fb1266d1a654b1",
        "symptoms": "Editors cannot log in",
        "affects": "all CMS editors",
        "cause": "bad module update",
        "fix_summary": "reverted the PR",
        "release_wait_minutes": 15,
    }
    return RunRequest(**{**values, **changes})


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1, in a thread; yield its base URL.

    The socket is bound and listening before the thread starts, so clients can connect at
    once: the kernel queues them until the server accepts.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        proxy_headers=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@dataclass
class Dashboard:
    """A running dashboard: its URL, the commands it hands actions to, and its store."""

    url: str
    commands: RecordingCommands
    store: Store
    clock: FixedClock

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTP client, signed in with `token` as an API client would be."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kwargs)


MakeDashboard = Callable[..., Dashboard]  # (config, host="127.0.0.1"): as `oob serve --host`


@pytest.fixture
def make_dashboard(store: Store, clock: FixedClock) -> Iterator[MakeDashboard]:
    """Start a dashboard for a config (SSO or tokens), with recording commands; `host` is the
    address `oob serve` would listen on (the test server listens on 127.0.0.1 whatever it is)."""
    from oob.sessions import StoredSessions
    from oob.web.app import Settings, create_app
    from oob.web.auth import Authenticator

    with ExitStack() as stack:

        def make(config: Config, host: str = "127.0.0.1") -> Dashboard:
            assert config.web is not None
            commands = RecordingCommands()
            settings = Settings(
                config=config,
                store=store,
                commands=commands,
                override_status=commands.override_status,
                authenticator=Authenticator(config.web, clock, sessions=StoredSessions(store)),
                poll_seconds=0.05,
                host=host,
            )
            url = stack.enter_context(serving(create_app(settings)))
            return Dashboard(url, commands, store, clock)

        yield make


@pytest.fixture
def dashboard(make_dashboard: MakeDashboard, web_config: Config) -> Dashboard:
    return make_dashboard(web_config)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (skipped when Debian's chromium is absent).

    Not per session: while Playwright's sync API is open it keeps an asyncio loop running on
    the main thread, and DBOS's synchronous calls refuse to run under a running loop. A worker
    of pytest-xdist may run a browser test and then a procedure test, so the browser must be
    closed when its module's tests are done.
    """
    if not CHROMIUM.exists():
        unavailable(
            f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)",
            "OOB_TEST_REQUIRE_BROWSER",
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
