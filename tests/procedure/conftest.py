"""Fixtures of the procedure tests: stores on SQLite and, when one answers, PostgreSQL."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oob.clock import ScaledClock
from oob.commands import Control
from oob.config import Config
from oob.procedure import Readiness, Runtime, Tuning
from oob.store import Store
from oob.worker import WorkerOptions, serve
from tests.procedure.doubles import Builds, Chat, Code, Probe, Same, Script
from tests.procedure.harness import Harness, make_config
from tests.support import unavailable

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_answers(url: str) -> bool:
    import sqlalchemy as sa

    from oob.store import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()
    return True


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test server's URL; the test is skipped when no PostgreSQL answers there."""
    url = os.environ.get("OOB_TEST_DATABASE_URL", DEFAULT_PG)
    if not _postgres_answers(url):
        unavailable(
            f"no PostgreSQL answers at {url} (set OOB_TEST_DATABASE_URL)",
            "OOB_TEST_REQUIRE_POSTGRES",
        )
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    import sqlalchemy as sa

    from oob.store import sqlalchemy_url

    name = f"oob_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sqlalchemy_url(postgres_server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = sa.make_url(sqlalchemy_url(postgres_server_url))
    url = base.set(database=name).render_as_string(hide_password=False)
    yield url.replace("postgresql+psycopg://", "postgresql://", 1)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def readiness() -> list[Readiness]:
    """Pre-flight answers in order; the last one repeats."""
    return [Readiness(ready=True)]


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.fixture
def merge_check_every() -> int:
    """How many polls apart the workflow looks at main while merges are held."""
    return 1


@pytest.fixture
def harness_database(tmp_path: Path) -> str:
    """The database the harness's store and DBOS use: SQLite, unless a test module says."""
    return f"sqlite:///{tmp_path / 'oob.sqlite'}"


@pytest.fixture
def others() -> dict[str, str]:
    """Pipelines besides the preset's, by name, with their own tables (`tests.many`)."""
    return {}


@pytest.fixture
def harness(
    preset_text: str,
    tmp_path: Path,
    harness_database: str,
    script: Script,
    readiness: list[Readiness],
    chat: Chat,
    merge_check_every: int,
    others: dict[str, str],
) -> Iterator[Harness]:
    config = make_config(preset_text, tmp_path, others)
    url = harness_database
    # One clock for the run, 3,600 times real time, as the tuning's time scale says.
    clock = ScaledClock(datetime.now(UTC), 3600)
    store = Store(url, clock=clock)
    code = Code(script)
    builds = Builds(script, code=code, clock=clock)
    probe = Probe(script)
    postmortems: list[str] = []

    def answer(_config: Config, _sha: str) -> Readiness:
        answer = readiness.pop(0) if len(readiness) > 1 else readiness[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def postmortem(_config: Config, run_id: str) -> tuple[str | None, str | None]:
        postmortems.append(run_id)
        return None, None

    runtime = Runtime(
        services=Same(builds, code, chat, probe),
        store=store,
        clock=clock,
        readiness=answer,
        postmortem=postmortem,
        tuning=Tuning(
            poll_seconds=0.01,
            time_scale=3600,
            merge_check_every=merge_check_every,
            trigger_settle_seconds=0.1,
        ),
    )
    stop = threading.Event()
    ready = threading.Event()
    options = WorkerOptions(heartbeat_seconds=0.05, polling_seconds=0.02)
    thread = threading.Thread(
        target=serve, args=(runtime, url, options, stop, lambda _l: ready.set()), daemon=True
    )
    thread.start()
    assert ready.wait(30)
    yield Harness(config, store, Control(store, url), builds, code, chat, probe, postmortems)
    stop.set()
    thread.join(30)
    store.close()
