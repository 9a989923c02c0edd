"""Helpers of the end-to-end tests: waiting on what the operator writes back, and reading
the offline engine's fake-cloud journal and the operator's JSON log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import yaml

from payplat_dev.kubectl import KubectlError
from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess, start_operator

T = TypeVar("T")
WAIT = 120.0  # a bound for "eventually", not a performance assertion

RunOperator = Callable[..., OperatorProcess]


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = WAIT, operator: OperatorProcess | None = None
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` (and the
    operator's log file) otherwise. A dead operator fails at once, with its log tail."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if operator is not None and not operator.process.alive():
            pytest.fail(
                f"operator exited ({operator.process.popen.returncode}) while waiting for {what}; "
                f"log {operator.process.log_path}:\n{_tail(operator.process.log_text())}"
            )
        if time.monotonic() > deadline:
            log = f"; operator log: {operator.process.log_path}" if operator else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{log}")
        time.sleep(0.25)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def platform(name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "payplat.io/v1alpha1",
        "kind": "PaymentPlatform",
        "metadata": {"name": name},
        "spec": spec or {},
    }


def admission_refusal(cluster: LocalCluster, namespace: str, obj: dict[str, Any]) -> str | None:
    """The API server's refusal of creating ``obj`` (None: accepted). A server-side dry run,
    so each call reaches admission afresh (an apply of an unchanged object would not)."""
    result = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj), check=False
    )
    return result.stderr if result.returncode != 0 else None


def get_platform(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    result = cluster.kubectl("get", "paymentplatform", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr:
            return None
        raise KubectlError(["get", name], result.returncode, result.stdout, result.stderr)
    return dict(json.loads(result.stdout))


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for cond in (obj or {}).get("status", {}).get("conditions", []):
        if cond.get("type") == kind:
            return dict(cond)
    return None


def ready_for_generation(obj: dict[str, Any] | None) -> bool:
    """Ready=True and the status describes the current generation."""
    if not obj:
        return False
    ready = condition(obj, "Ready")
    generation = obj["metadata"]["generation"]
    return bool(
        ready
        and ready["status"] == "True"
        and obj.get("status", {}).get("observedGeneration") == generation
        and ready.get("observedGeneration") == generation
    )


def wait_ready(cluster: LocalCluster, namespace: str, name: str, operator: OperatorProcess) -> dict[str, Any]:
    return wait_for(lambda: _ready_obj(cluster, namespace, name), f"{namespace}/{name} Ready", operator=operator)


def _ready_obj(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get_platform(cluster, namespace, name)
    return obj if ready_for_generation(obj) else None


def journal(state_dir: Path, namespace: str, name: str) -> list[dict[str, Any]]:
    """The offline engine's fake-cloud journal for one platform: every create/update/delete."""
    return OfflineCloud(state_dir).journal(namespace, name)


#: The engines a scenario can run on (``engine`` fixture, indirect parametrization).
ENGINES = ("offline", "pulumi")


def stack_name(namespace: str, name: str) -> str:
    from payplat.model.identity import stack_name as named

    return named(namespace, name)


class CloudView(Protocol):
    """What "AWS" holds for a platform, whichever engine ran: the offline engine's fake
    cloud or the stand-in provider's folder. Journal entries have the same keys in both
    (``action``, ``actor``, ``urn``, ``type``, ``id``, ``inputs``, ``time``)."""

    def journal(self, namespace: str, name: str) -> list[dict[str, Any]]: ...

    def live(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        """Inputs of every resource that exists now, by URN."""

    def drift(self, namespace: str, name: str, resource: str, inputs: dict[str, Any]) -> None:
        """Change a resource behind Pulumi's back (``resource`` is its logical name)."""

    def break_destroy(self, namespace: str, name: str) -> dict[str, str]:
        """Make every destroy of the platform fail permanently; returns tags for its spec
        (removing them, after ``fix_destroy``, is the spec change that retries)."""

    def fix_destroy(self, namespace: str, name: str) -> None: ...


class OfflineCloud:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def journal(self, namespace: str, name: str) -> list[dict[str, Any]]:
        from payplat.engines.fakecloud import FakeCloud

        return FakeCloud(self.state_dir, stack_name(namespace, name)).entries()

    def live(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        from payplat.engines.fakecloud import FakeCloud

        return {urn: o.inputs for urn, o in FakeCloud(self.state_dir, stack_name(namespace, name)).objects().items()}

    def drift(self, namespace: str, name: str, resource: str, inputs: dict[str, Any]) -> None:
        from payplat.engines.fakecloud import simulate_drift

        simulate_drift(self.state_dir, stack_name(namespace, name), resource, inputs=inputs)

    def break_destroy(self, namespace: str, name: str) -> dict[str, str]:
        from payplat.engines.faults import FAULT_TAG

        return {FAULT_TAG: "destroy-permanent"}

    def fix_destroy(self, namespace: str, name: str) -> None:
        """Removing the tag is the fix."""


class StandinCloudView:
    """The real engine's "AWS": the stand-in provider's folder (``payplat_dev.standin``)."""

    def __init__(self, kit: Any) -> None:
        self.kit = kit

    def journal(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return list(self.kit.cloud.journal(stack_name(namespace, name)))

    def live(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        return {o["urn"]: o["inputs"] for o in self.kit.cloud.objects(stack_name(namespace, name))}

    def drift(self, namespace: str, name: str, resource: str, inputs: dict[str, Any]) -> None:
        self.kit.cloud.drift(stack_name(namespace, name), resource, changes=inputs)

    def break_destroy(self, namespace: str, name: str) -> dict[str, str]:
        # An IAM policy on the AWS side: a destroy runs on the state's old tags.
        self.kit.cloud.deny("delete@ecs/cluster:Cluster:AccessDeniedException")
        return {"payplat.io/test": "destroy-denied"}

    def fix_destroy(self, namespace: str, name: str) -> None:
        self.kit.cloud.deny("")


def log_records(operator: OperatorProcess) -> list[dict[str, Any]]:
    """The operator's structured (JSON) log lines; anything else (e.g. a traceback) skipped."""
    records = []
    for line in operator.process.log_text().splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def load_yaml(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


#: Settings that belong to one operator process, not to an install (ports, state folder).
PROCESS_LOCAL = frozenset({"PAYPLAT_METRICS_PORT", "PAYPLAT_LIVENESS_ENDPOINT", "PAYPLAT_STATE_DIR"})


def operator_as(
    cluster: LocalCluster,
    namespace: str,
    account: str,
    settings: dict[str, str],
    state_dir: Path,
    name: str,
    **extra: str,
) -> OperatorProcess:
    """``payplat run`` authenticated only by ``account``'s API-server-issued token, with an
    install's settings (its ConfigMap) as if it ran in a pod of ``namespace``."""
    kubeconfig = cluster.kubeconfig_for_token(cluster.create_token(namespace, account), name=name)
    env = {k: v for k, v in settings.items() if k not in PROCESS_LOCAL}
    return start_operator(
        cluster, state_dir, kubeconfig=kubeconfig, name=name, env={**env, "POD_NAMESPACE": namespace, **extra}
    )
