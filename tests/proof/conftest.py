"""Fixtures of the proof tests: stores on SQLite and, when one answers, PostgreSQL."""

from __future__ import annotations

from tests.procedure.conftest import postgres_server_url, postgres_url

__all__ = ["postgres_server_url", "postgres_url"]
