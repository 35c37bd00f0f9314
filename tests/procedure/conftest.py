"""Fixtures of the procedure tests: stores on SQLite and, when one answers, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

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
