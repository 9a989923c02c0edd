"""status.next_status as a table: event in, phase and conditions out; plus the invariants
(lastTransitionTime stability, no secret values, merge patches that delete)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payplat.controller.conditions import condition
from payplat.controller.status import drift_check_due, is_settled, next_status, status_patch
from payplat.controller.statusevents import (
    DriftCheckFailed,
    Failed,
    Forgotten,
    Invalid,
    Queued,
    Remediated,
    RemediationFailed,
    Started,
    Suspended,
)
from payplat.engines.base import (
    SECRET_MASK,
    Changes,
    DriftReport,
    OperationResult,
    PermanentEngineError,
    TransientEngineError,
)

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=3)


def up_result(**changes: int) -> OperationResult:
    return OperationResult(
        operation="up",
        engine="offline",
        started=T0,
        finished=T1,
        changes=Changes(**changes),
        outputs={"albDnsName": "alb.example", "vpcId": "vpc-1"},
    )


def conditions_of(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


TABLE = [
    pytest.param(
        Started("up", T0),
        "Reconciling",
        {
            "Ready": ("False", "Progressing"),
            "Reconciling": ("True", "Progressing"),
            "Stalled": ("False", "Progressing"),
        },
        id="up-started",
    ),
    pytest.param(
        Queued("up"), "Pending", {"Ready": ("False", "Queued"), "Reconciling": ("True", "Queued")}, id="queued"
    ),
    pytest.param(
        Started("destroy", T0),
        "Deleting",
        {"Ready": ("False", "Progressing"), "Reconciling": ("True", "Progressing")},
        id="destroy-started",
    ),
    pytest.param(
        up_result(create=42),
        "Ready",
        {"Ready": ("True", "Succeeded"), "Reconciling": ("False", "Succeeded"), "Stalled": ("False", "Succeeded")},
        id="up-succeeded",
    ),
    pytest.param(
        Failed("up", TransientEngineError("throttled", reason="Throttling"), T0, T1, retry_in=20),
        "Failed",
        {
            "Ready": ("False", "Throttling"),
            "Reconciling": ("True", "RetryScheduled"),
            "Stalled": ("False", "RetryScheduled"),
        },
        id="transient-failure",
    ),
    pytest.param(
        Failed("up", PermanentEngineError("AccessDenied on ec2:CreateVpc", reason="AuthFailed"), T0, T1),
        "Stalled",
        {"Ready": ("False", "AuthFailed"), "Reconciling": ("False", "Stalled"), "Stalled": ("True", "AuthFailed")},
        id="permanent-failure",
    ),
    pytest.param(
        Failed("destroy", PermanentEngineError("denied", reason="AuthFailed"), T0, T1, retry_in=300),
        "Deleting",
        {"Stalled": ("True", "AuthFailed")},
        id="destroy-permanent-failure",
    ),
    pytest.param(
        Invalid(("spec.region: 'mars-1' is not an AWS region name",)),
        "Stalled",
        {"Ready": ("False", "InvalidSpec"), "Stalled": ("True", "InvalidSpec")},
        id="invalid-spec",
    ),
    pytest.param(
        Suspended(),
        "Suspended",
        {"Ready": ("Unknown", "Suspended"), "Reconciling": ("False", "Suspended")},
        id="suspended",
    ),
    pytest.param(Forgotten(), "Deleting", {"Ready": ("False", "Retained")}, id="retained"),
]


@pytest.mark.parametrize(("event", "phase", "expected"), TABLE)
def test_event_sets_phase_and_conditions(event: object, phase: str, expected: dict[str, tuple[str, str]]) -> None:
    status = next_status({}, 3, event, T1)
    assert status["phase"] == phase
    got = conditions_of(status)
    for kind, value in expected.items():
        assert got[kind] == value, kind
    for item in status["conditions"]:
        assert set(item) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
        assert item["observedGeneration"] == 3


def test_success_records_outputs_last_update_and_engine() -> None:
    status = next_status({}, 2, up_result(create=5, same=1), T1)
    assert status["observedGeneration"] == 2
    assert status["engine"] == "offline"
    assert status["outputs"] == {"albDnsName": "alb.example", "vpcId": "vpc-1"}
    assert status["lastUpdate"] == {
        "operation": "up",
        "result": "Succeeded",
        "startTime": "2026-11-28T12:00:00Z",
        "endTime": "2026-11-28T12:03:00Z",
        "changes": {"create": 5, "update": 0, "delete": 0, "replace": 0, "same": 1},
    }
    assert status["message"] == "up succeeded (create 5)"


def test_last_transition_time_changes_only_when_status_flips() -> None:
    failing = TransientEngineError("throttled", reason="Throttling")
    first = next_status({}, 1, Failed("up", failing, T0, T0, retry_in=5), T0)
    later = T0 + timedelta(minutes=10)
    second = next_status(first, 1, Failed("up", failing, later, later, retry_in=10), later)
    assert condition(second, "Ready")["lastTransitionTime"] == condition(first, "Ready")["lastTransitionTime"]
    assert condition(second, "Reconciling")["message"].endswith("(retrying in 10s)")
    ready = next_status(second, 1, up_result(), later)
    assert condition(ready, "Ready")["lastTransitionTime"] == "2026-11-28T12:10:00Z"
    assert condition(ready, "Stalled")["lastTransitionTime"] == condition(first, "Stalled")["lastTransitionTime"]


def test_drift_report_and_failures_set_drifted() -> None:
    ready = next_status({}, 1, up_result(), T1)
    drifted = next_status(ready, 1, DriftReport(drifted=True, changes=Changes(update=2), started=T1, finished=T1), T1)
    assert conditions_of(drifted)["Drifted"] == ("True", "DriftDetected")
    assert condition(drifted, "Drifted")["message"] == "AWS differs from the stack: update 2 planned"
    assert drifted["lastDriftCheck"]["drifted"] is True
    assert drifted["phase"] == "Ready"  # a drift report does not touch the reconcile state
    unknown = next_status(drifted, 1, DriftCheckFailed(TransientEngineError("timeout"), T1), T1)
    assert conditions_of(unknown)["Drifted"] == ("Unknown", "DriftCheckFailed")
    fixed = next_status(drifted, 1, Remediated(up_result(update=2)), T1)
    assert conditions_of(fixed)["Drifted"] == ("False", "Remediated")
    assert conditions_of(fixed)["Ready"] == ("True", "Succeeded")
    still = next_status(drifted, 1, RemediationFailed(TransientEngineError("throttled"), T1, T1), T1)
    assert conditions_of(still)["Drifted"] == ("True", "RemediationFailed")


def test_secret_values_never_reach_status() -> None:
    result = OperationResult(
        operation="up",
        engine="offline",
        started=T0,
        finished=T1,
        outputs={
            "dbPassword": "hunter2-hunter2",
            "dbSecretArn": "arn:aws:secretsmanager:x",
            "nested": {"token": "abc123456"},
            "note": "pw is s3cr3t-value",
        },
        message="used s3cr3t-value",
    )
    status = next_status({}, 1, result, T1, secrets=["s3cr3t-value"])
    assert status["outputs"]["dbPassword"] == SECRET_MASK
    assert status["outputs"]["nested"]["token"] == SECRET_MASK
    assert status["outputs"]["dbSecretArn"] == "arn:aws:secretsmanager:x"  # a reference, not a value
    assert status["outputs"]["note"] == f"pw is {SECRET_MASK}"
    error = TransientEngineError("connect failed with password s3cr3t-value", reason="X")
    failed = next_status(status, 1, Failed("up", error, T0, T1, retry_in=5), T1, secrets=["s3cr3t-value"])
    assert "s3cr3t-value" not in repr(failed) and "hunter2" not in repr(failed)


@pytest.mark.parametrize(
    ("status", "generation", "settled"),
    [
        ({"observedGeneration": 4, "phase": "Ready"}, 4, True),
        ({"observedGeneration": 4, "phase": "Stalled"}, 4, True),
        ({"observedGeneration": 4, "phase": "Suspended"}, 4, True),
        ({"observedGeneration": 3, "phase": "Ready"}, 4, False),
        ({"observedGeneration": 4, "phase": "Failed"}, 4, False),
        ({"observedGeneration": 4, "phase": "Reconciling"}, 4, False),  # interrupted: pick it up again
        ({}, 1, False),
    ],
)
def test_is_settled(status: dict[str, Any], generation: int, settled: bool) -> None:
    assert is_settled(status, generation) is settled


@pytest.mark.parametrize(
    ("status", "minutes_later", "due"),
    [
        ({}, 0, True),
        ({"lastUpdate": {"endTime": "2026-11-28T12:00:00Z"}}, 59, False),
        ({"lastUpdate": {"endTime": "2026-11-28T12:00:00Z"}}, 60, True),
        (
            {"lastUpdate": {"endTime": "2026-11-28T11:00:00Z"}, "lastDriftCheck": {"time": "2026-11-28T12:00:00Z"}},
            30,
            False,
        ),
    ],
)
def test_drift_check_due(status: dict[str, Any], minutes_later: int, due: bool) -> None:
    assert drift_check_due(status, 60, T0 + timedelta(minutes=minutes_later)) is due


@pytest.mark.parametrize(
    ("last_check", "requested", "due"),
    [
        ({"time": "2026-11-28T12:00:00Z"}, "r1", True),  # a new request: now, whatever the interval
        ({"time": "2026-11-28T12:00:00Z", "request": "r1"}, "r1", False),  # already answered
        ({"time": "2026-11-28T12:00:00Z", "request": "r1"}, "r2", True),  # asked again
        ({"time": "2026-11-28T12:00:00Z"}, None, False),
    ],
)
def test_a_requested_drift_check_is_due_once(last_check: dict[str, Any], requested: str | None, due: bool) -> None:
    status = {"lastDriftCheck": last_check}
    assert drift_check_due(status, 60, T0 + timedelta(minutes=1), requested) is due


def test_status_patch_deletes_removed_keys() -> None:
    old = {"phase": "Ready", "outputs": {"a": 1, "b": 2}, "message": "x"}
    new = {"phase": "Deleting", "outputs": {"a": 1}, "message": "x"}
    assert status_patch(old, new) == {"phase": "Deleting", "outputs": {"b": None}}
    assert status_patch({"kopf": {"x": 1}}, {}) == {"kopf": None}


def test_unknown_status_fields_are_kept() -> None:
    status = next_status({"kopf": {"progress": {}}, "custom": 1}, 1, Suspended(), T0)
    assert status["kopf"] == {"progress": {}} and status["custom"] == 1


def test_unknown_event_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="no status transition for str"):
        next_status({}, 1, "up", T0)
