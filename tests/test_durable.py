"""The DBOS internals oob relies on, behind `oob.durable`: this test fails loudly when a new
DBOS version changes them."""

from __future__ import annotations

import inspect


def test_dbos_still_offers_recovery_aimed_at_one_executor() -> None:
    from dbos import DBOS

    recover = DBOS._recover_pending_workflows
    assert list(inspect.signature(recover).parameters) == ["executor_ids"]


def test_dbos_still_names_a_missing_workflow_and_lists_steps_with_times() -> None:
    from dbos import DBOSClient, error

    assert issubclass(error.DBOSNonExistentWorkflowError, Exception)
    assert "load_output" in inspect.signature(DBOSClient.list_workflow_steps).parameters


def test_dbos_still_reads_its_background_jobs_interval_from_its_module() -> None:
    """`oob.durable.quiet_background_jobs` sets it: the constant must exist, be a number, and be
    what the background jobs' thread reads when it starts."""
    import inspect

    from dbos import _workflow_commands

    from oob import durable

    assert isinstance(_workflow_commands._BACKGROUND_JOBS_INTERVAL_SEC, float)
    source = inspect.getsource(_workflow_commands.background_jobs_thread)
    assert "_BACKGROUND_JOBS_INTERVAL_SEC" in source
    durable.quiet_background_jobs()
    assert _workflow_commands._BACKGROUND_JOBS_INTERVAL_SEC == durable.BACKGROUND_JOBS_SECONDS
