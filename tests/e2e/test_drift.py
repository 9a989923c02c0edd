"""Drift on the real API server: a change made behind Pulumi's back is found by the drift
timer when a person asks (the check-drift annotation), reported in Drifted, and put
back when the spec says Remediate."""

from __future__ import annotations

import time

import pytest

from payplat.controller.handlersteps import CHECK_DRIFT_ANNOTATION
from payplat_dev.localcluster import LocalCluster

from .support import ENGINES, CloudView, RunOperator, condition, get_platform, platform, wait_for, wait_ready

pytestmark = pytest.mark.e2e

FAST_TICK = {"PAYPLAT_DRIFT_TICK_SECONDS": "1"}


def ask_for_a_drift_check(cluster: LocalCluster, namespace: str, name: str) -> str:
    token = str(time.time_ns())
    cluster.kubectl("annotate", "pp", name, "-n", namespace, f"{CHECK_DRIFT_ANNOTATION}={token}", "--overwrite")
    return token


def answered(cluster: LocalCluster, namespace: str, name: str, token: str) -> dict | None:
    obj = get_platform(cluster, namespace, name)
    return obj if (obj or {}).get("status", {}).get("lastDriftCheck", {}).get("request") == token else None


def vpc_dns_hostnames(cloud: CloudView, namespace: str, name: str) -> object:
    (vpc,) = [inputs for urn, inputs in cloud.live(namespace, name).items() if urn.endswith(f"::{name}-vpc")]
    return vpc.get("enableDnsHostnames")


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_requested_check_reports_drift_and_detect_mode_leaves_aws_alone(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator(env=FAST_TICK)
    cluster.apply(
        platform("watched", {"driftDetection": {"mode": "Detect", "intervalMinutes": 60}}), namespace=namespace
    )
    wait_ready(cluster, namespace, "watched", operator)

    token = ask_for_a_drift_check(cluster, namespace, "watched")
    clean = wait_for(lambda: answered(cluster, namespace, "watched", token), "the first requested drift check")
    assert condition(clean, "Drifted")["status"] == "False"

    cloud.drift(namespace, "watched", "watched-vpc", {"enableDnsHostnames": False})
    token = ask_for_a_drift_check(cluster, namespace, "watched")
    drifted = wait_for(lambda: answered(cluster, namespace, "watched", token), "the second requested drift check")

    assert condition(drifted, "Drifted")["status"] == "True"
    assert condition(drifted, "Ready")["status"] == "True"  # drift is reported, not a failure
    assert drifted["status"]["lastDriftCheck"]["drifted"] is True
    assert vpc_dns_hostnames(cloud, namespace, "watched") is False  # Detect never touches AWS


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_remediate_mode_puts_aws_back(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, cloud: CloudView
) -> None:
    operator = run_operator(env=FAST_TICK)
    cluster.apply(
        platform("healed", {"driftDetection": {"mode": "Remediate", "intervalMinutes": 60}}), namespace=namespace
    )
    wait_ready(cluster, namespace, "healed", operator)
    cloud.drift(namespace, "healed", "healed-vpc", {"enableDnsHostnames": False})

    token = ask_for_a_drift_check(cluster, namespace, "healed")
    healed = wait_for(
        lambda: (
            (obj := answered(cluster, namespace, "healed", token))
            and (condition(obj, "Drifted") or {}).get("reason") == "Remediated"
            and obj
        ),
        "drift found and remediated",
    )

    assert condition(healed, "Drifted")["status"] == "False"
    assert healed["status"]["phase"] == "Ready"
    assert vpc_dns_hostnames(cloud, namespace, "healed") is True
