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
