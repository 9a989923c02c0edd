"""GitOps with a real Argo CD: PaymentPlatforms in a Git repository, synced by Argo CD v3's
application-controller and repo-server into the local control plane, reconciled by the
operator, and judged by the health check this repository ships (installed from
manifests/argocd/argocd-cm-patch.yaml). Every assertion reads what Argo CD itself wrote on
the Application (``--persist-resource-health``), never a re-computation.

One Argo CD serves the whole module; each test has its own repository, Application,
namespace and operator.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from payplat.controller.handlersteps import FINALIZER
from payplat.engines.fakecloud import FakeCloud
from payplat.engines.faults import FAULT_TAG
from payplat.model.identity import stack_name
from payplat_dev.demo import missing_password_secrets
from payplat_dev.localcluster import LocalCluster
from tests.e2e.support import RunOperator, condition, get_platform, platform

from .gitops import ROOT, ArgoCD, GitRepo, application, health_of, resource, synced_at

pytestmark = pytest.mark.e2e

# The CRD refuses deletionPolicy Delete with a protected load balancer.
DELETABLE = {"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}}


@pytest.fixture(scope="module")
def argocd(cluster: LocalCluster, argocd_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArgoCD]:
    running = ArgoCD.start(cluster, argocd_home, tmp_path_factory.mktemp("argocd"))
    yield running
    running.stop()


def health(status: str, message: str) -> dict[str, str]:
    return {"status": status, "message": message}


def live_resources(state_dir: Path, namespace: str, name: str) -> int:
    return len(FakeCloud(state_dir, stack_name(namespace, name)).objects())


def healthy_at(name: str, generation: int, cluster: LocalCluster, namespace: str) -> Any:
    """A probe: Argo CD shows ``name`` Healthy and the object is Ready for ``generation``."""

    def probe(app: dict[str, Any]) -> dict[str, Any] | None:
        shown = health_of(app, name)
        if not shown or shown["status"] != "Healthy":
            return None
        obj = get_platform(cluster, namespace, name)
        return app if obj and obj["metadata"]["generation"] == generation else None

    return probe


def test_a_platform_from_git_syncs_turns_healthy_follows_a_push_and_suspends(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, argocd: ArgoCD, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path, "platforms")
    repo.write("platforms/shop.yaml", [platform("shop")])
    first = repo.push("shop")
    argocd.apply(application("shop", repo.url, "platforms", namespace, prune=True))

    # Synced before any operator runs: Argo CD applied it, the check waits for the operator.
    app = argocd.wait("shop", lambda a: a if synced_at(a, first) and health_of(a, "shop") else None, "Synced")
    assert health_of(app, "shop") == health("Progressing", "Waiting for the operator to report status")

    # Each step of an up takes a moment, so an up is long enough to be seen from Argo CD.
    operator = run_operator(env={"PAYPLAT_OFFLINE_STEP_DELAY": "0.1"})
    app = argocd.wait("shop", healthy_at("shop", 1, cluster, namespace), "Healthy", alive=operator.process.alive)
    ready = condition(get_platform(cluster, namespace, "shop"), "Ready")
    assert ready and health_of(app, "shop") == health("Healthy", ready["message"])
    assert app["status"]["health"]["status"] == "Healthy"

    # A pushed spec change: Progressing while the operator runs up, then Healthy again.
    repo.write("platforms/shop.yaml", [platform("shop", {"tags": {"team": "checkout"}})])
    second = repo.push("shop: team tag")
    argocd.refresh("shop")
    seen: list[dict[str, str]] = []

    def healthy_again(a: dict[str, Any]) -> dict[str, Any] | None:
        shown = health_of(a, "shop")
        if shown and synced_at(a, second) and (not seen or seen[-1] != shown):
            seen.append(shown)
        return healthy_at("shop", 2, cluster, namespace)(a) if synced_at(a, second) else None

    app = argocd.wait("shop", healthy_again, "Healthy for generation 2", alive=operator.process.alive)
    progressing = [s for s in seen if s["status"] == "Progressing"]
    assert progressing and seen[-1]["status"] == "Healthy", seen
    obj = get_platform(cluster, namespace, "shop")
    assert obj and obj["spec"]["tags"] == {"team": "checkout"}
    assert health_of(app, "shop") == health("Healthy", condition(obj, "Ready")["message"])

    # suspend: true in Git shows as Suspended.
    repo.write("platforms/shop.yaml", [platform("shop", {"tags": {"team": "checkout"}, "suspend": True})])
    third = repo.push("shop: suspend")
    argocd.refresh("shop")
    app = argocd.wait(
        "shop",
        lambda a: a if synced_at(a, third) and (health_of(a, "shop") or {}).get("status") == "Suspended" else None,
        "Suspended",
        alive=operator.process.alive,
    )
    assert health_of(app, "shop") == health(
        "Suspended", "spec.suspend is true: the operator runs no engine operations for this platform"
    )


def test_a_platform_that_fails_for_good_is_degraded_with_the_operators_reason(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, argocd: ArgoCD, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path, "platforms")
    repo.write("broken.yaml", [platform("broken", {"tags": {FAULT_TAG: "up-permanent"}})])
    revision = repo.push("broken")
    operator = run_operator()
    argocd.apply(application("broken", repo.url, ".", namespace, prune=True))

    app = argocd.wait(
        "broken",
        lambda a: a if synced_at(a, revision) and (health_of(a, "broken") or {}).get("status") == "Degraded" else None,
        "Degraded",
        alive=operator.process.alive,
    )

    stalled = condition(get_platform(cluster, namespace, "broken"), "Stalled")
    assert stalled and stalled["status"] == "True" and "up failed" in stalled["message"]
    assert health_of(app, "broken") == health("Degraded", stalled["message"])
    assert app["status"]["health"]["status"] == "Degraded"


def test_an_invalid_manifest_in_git_fails_the_sync_with_the_api_servers_message(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, argocd: ArgoCD, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path, "platforms")
    repo.write("good.yaml", [platform("good")])
    good = repo.push("good")
    operator = run_operator()
    argocd.apply(application("mixed", repo.url, ".", namespace, prune=True))
    argocd.wait("mixed", healthy_at("good", 1, cluster, namespace), "good Healthy", alive=operator.process.alive)

    invalid = ROOT / "tests" / "data" / "invalid" / "delete-with-protected-alb.yaml"
    expect = invalid.read_text().splitlines()[0].removeprefix("# expect: ")
    shutil.copy(invalid, repo.work / "invalid.yaml")
    bad = repo.push("a platform the CRD refuses")
    argocd.refresh("mixed")

    def refused(a: dict[str, Any]) -> dict[str, Any] | None:
        """The sync of ``bad`` has the refused object's result (Argo CD then keeps the
        operation Running while it retries, or Failed once it gives up)."""
        operation = a.get("status", {}).get("operationState", {})
        result = operation.get("syncResult", {})
        if result.get("revision") != bad or operation.get("phase") not in ("Running", "Failed", "Error"):
            return None
        failed = [
            r
            for r in result.get("resources", [])
            if r.get("name") == "delete-with-protected-alb" and r.get("status") == "SyncFailed"
        ]
        return {**operation, "failed": failed} if failed and expect in operation.get("message", "") else None

    operation = argocd.wait("mixed", refused, "the sync of the invalid revision to fail")
    message = (
        'PaymentPlatform.payplat.io "delete-with-protected-alb" is invalid: '
        f"spec.loadBalancer.deletionProtection: Invalid value: {expect}"
    )
    assert message in operation["message"], operation["message"]
    assert message in operation["failed"][0]["message"]
    app = argocd.app("mixed")
    assert app["status"]["sync"]["status"] == "OutOfSync" and app["status"]["sync"]["revision"] == bad
    assert get_platform(cluster, namespace, "delete-with-protected-alb") is None
    assert good != bad and health_of(app, "good") == health(
        "Healthy", condition(get_platform(cluster, namespace, "good"), "Ready")["message"]
    )


def test_removing_platforms_from_git_deletes_them_through_the_finalizer(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path, argocd: ArgoCD, tmp_path: Path
) -> None:
    repo = GitRepo.create(tmp_path, "platforms")
    specs = {
        # Delete: the first three destroys fail and are retried, so the deletion lasts.
        "gone-slowly": {**DELETABLE, "tags": {FAULT_TAG: "destroy-transient-3"}},
        # Delete: every destroy fails until someone fixes the cause.
        "gone-blocked": {**DELETABLE, "tags": {FAULT_TAG: "destroy-permanent"}},
        "gone-retained": {"deletionPolicy": "Retain"},
    }
    for name, spec in specs.items():
        repo.write(f"{name}.yaml", [platform(name, spec)])
    revision = repo.push("three platforms")
    operator = run_operator()
    alive = operator.process.alive
    argocd.apply(application("pruned", repo.url, ".", namespace, prune=True))
    for name in specs:
        argocd.wait("pruned", healthy_at(name, 1, cluster, namespace), f"{name} Healthy", alive=alive)
    assert synced_at(argocd.app("pruned"), revision)
    created = {name: live_resources(state_dir, namespace, name) for name in specs}

    for name in specs:
        repo.remove(f"{name}.yaml")
    empty = repo.push("remove every platform")
    argocd.refresh("pruned")

    # One watch over all three, recording every health Argo CD shows on the way.
    seen: dict[str, list[dict[str, str]]] = {name: [] for name in specs}

    def settled(a: dict[str, Any]) -> bool:
        for name in specs:
            shown = health_of(a, name)
            if shown and (not seen[name] or seen[name][-1] != shown):
                seen[name].append(shown)
        gone = [
            n
            for n in ("gone-retained", "gone-slowly")
            if resource(a, "PaymentPlatform", n) is None and get_platform(cluster, namespace, n) is None
        ]
        blocked = (health_of(a, "gone-blocked") or {}).get("status") == "Degraded"
        return len(gone) == 2 and blocked

    argocd.wait("pruned", settled, "two platforms gone and one blocked", alive=alive)

    # Retain: the object goes, AWS (the fake cloud) is left as it was.
    assert live_resources(state_dir, namespace, "gone-retained") == created["gone-retained"] > 20
    # Delete, retried: Argo CD showed the deletion in progress in the operator's words,
    # then the object went once the destroy succeeded.
    deleting = [s for s in seen["gone-slowly"] if s["message"].startswith("Deleting: destroy failed")]
    assert deleting and all(s["status"] == "Progressing" for s in deleting), seen["gone-slowly"]
    assert live_resources(state_dir, namespace, "gone-slowly") == 0
    # Delete, blocked: Degraded with the reason, the object kept with its finalizer.
    obj = get_platform(cluster, namespace, "gone-blocked")
    assert obj and obj["metadata"]["deletionTimestamp"] and obj["metadata"]["finalizers"] == [FINALIZER]
    # The operator retries a blocked destroy (each attempt numbered in its message), so
    # the message is checked for the operator's words rather than against one snapshot.
    blocked = seen["gone-blocked"][-1]
    assert blocked["status"] == "Degraded", seen["gone-blocked"]
    assert blocked["message"].startswith("Delete is blocked: destroy failed: offline engine: destroy failed on purpose")
    assert blocked["message"].endswith("remove the tag to let it succeed (retrying in 5s once the cause is fixed)")
    assert live_resources(state_dir, namespace, "gone-blocked") == created["gone-blocked"]

    # Fixing the cause (outside Git: the object is no longer in it) lets the delete finish.
    cluster.kubectl(
        "patch",
        "pp",
        "gone-blocked",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": "/spec/tags/payplat.io~1offline-fail"}]),
    )
    app = argocd.wait(
        "pruned",
        lambda a: (
            a
            if resource(a, "PaymentPlatform", "gone-blocked") is None
            and get_platform(cluster, namespace, "gone-blocked") is None
            else None
        ),
        "gone-blocked gone",
        alive=alive,
    )
    assert live_resources(state_dir, namespace, "gone-blocked") == 0
    assert synced_at(app, empty) and app["status"].get("resources", []) == []


def test_the_example_applications_install_the_chart_and_sync_the_example_platforms(
    cluster: LocalCluster, run_operator: RunOperator, argocd: ArgoCD, tmp_path: Path
) -> None:
    """examples/argocd-application.yaml as shipped, but for its repoURL: this repository's
    chart and examples at the tag it names, in a local Git repository. No node runs the
    chart's Deployment here, so an operator process watching ``payments`` stands in for it."""
    apps = [doc for doc in yaml.safe_load_all((ROOT / "examples" / "argocd-application.yaml").read_text()) if doc]
    tags = {doc["spec"]["source"]["targetRevision"] for doc in apps}
    assert len(tags) == 1
    repo = GitRepo.create(tmp_path, "payment-platform-operator")
    for folder in ("charts", "examples"):
        shutil.copytree(ROOT / folder, repo.work / folder)
    revision = repo.push("release", tag=tags.pop())
    for doc in apps:
        doc["spec"]["source"]["repoURL"] = repo.url
    platforms = {
        doc["metadata"]["name"]: doc
        for path in sorted((ROOT / "examples").glob("*.yaml"))
        if path.name != "argocd-application.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    # The example's database password Secret is not in Git (the README says why): made up
    # the way the demo does it, consenting to the platforms that use it.
    cluster.kubectl("create", "namespace", "payments")
    for doc in platforms.values():
        doc["metadata"].setdefault("namespace", "payments")
    cluster.apply(missing_password_secrets(list(platforms.values())))
    operator = run_operator(watch="payments")

    for doc in apps:
        argocd.apply(doc)
    chart = argocd.wait("payplat-operator", lambda a: a if synced_at(a, revision) else None, "the chart Synced")
    kinds = {(r["kind"], r.get("namespace", "")) for r in chart["status"]["resources"]}
    assert {("Deployment", "payplat-system"), ("Role", "payments")} <= kinds, kinds
    assert all(r.get("status") == "Synced" for r in chart["status"]["resources"])
    for name in platforms:
        app = argocd.wait(
            "payment-platforms",
            healthy_at(name, 1, cluster, "payments"),
            f"{name} Healthy",
            alive=operator.process.alive,
        )
    assert synced_at(app, revision)
    assert app["status"]["health"]["status"] == "Healthy"
