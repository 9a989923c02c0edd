"""``payplat demo``: the README's first command, the main job on the embedded default.

It starts the local control plane (``payplat_dev.localcluster``), installs the CRD, runs
``payplat run`` with the offline engine (``--engine pulumi``: the real Automation API and
Pulumi CLI, against the stand-in AWS provider with moto as the S3 state backend and KMS
secrets provider, from ``payplat_dev``; nothing reaches AWS either way), applies the PaymentPlatforms in ``examples/``
(creating any database Secret they reference with a random password, since a password
never belongs in git), waits until every one is Ready and shows ``kubectl get`` and the
status. ``--exit`` stops there (the test uses it); otherwise it runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from payplat.model.tenancy import SECRET_CONSENT_ANNOTATION
from payplat_dev.kubectl import KubectlError
from payplat_dev.localcluster import ClusterStartError, LocalCluster
from payplat_dev.operatorproc import start_operator
from payplat_dev.processes import ManagedProcess, Say, sayer, tail
from payplat_dev.testbin import find_bin_dir, missing_binaries, repo_root

DEMO_NAMESPACE = "payplat-demo"
_DEMO_KINDS = {"PaymentPlatform", "Secret", "Namespace"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exit",
        action="store_true",
        help="stop everything once the examples are Ready (default: keep running until Ctrl-C)",
    )
    parser.add_argument(
        "--examples", type=Path, default=None, help="folder of manifests to apply (default: the checkout's examples/)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the examples to become Ready (default: 300)"
    )
    parser.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="folder with etcd, kube-apiserver, kubectl (default: hack/testbin.sh's cache)",
    )
    parser.add_argument(
        "--engine",
        choices=("offline", "pulumi"),
        default="offline",
        help="offline: the program under mocks (default); pulumi: the real Pulumi CLI with a "
        "local stand-in AWS provider and moto as S3 backend and KMS (needs hack/pulumi-cli.sh)",
    )


def command(args: argparse.Namespace) -> int:
    """Start everything, show the examples converging, then wait for Ctrl-C (or exit)."""
    say = sayer(sys.stdout)
    examples = args.examples or ((repo_root() or Path.cwd()) / "examples")
    docs = demo_documents(examples)
    if not any(doc.get("kind") == "PaymentPlatform" for doc in docs):
        print(f"payplat demo: no PaymentPlatform manifest in {examples}/*.yaml", file=sys.stderr)
        return 2
    bin_dir = args.bin_dir or find_bin_dir()
    missing = missing_binaries(bin_dir)
    if missing:
        print(
            f"payplat demo: {', '.join(missing)} not found in {bin_dir}; "
            "build them with `bash hack/testbin.sh` (or run `bash hack/demo.sh`)",
            file=sys.stderr,
        )
        return 2
    try:
        with LocalCluster.start(bin_dir=bin_dir, log=sys.stdout) as cluster:
            return _run_demo(cluster, docs, args, say)
    except (ClusterStartError, KubectlError) as err:
        print(f"payplat demo: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("stopped")
        return 0


def demo_documents(examples: Path) -> list[dict[str, Any]]:
    """The example manifests the local cluster can take: PaymentPlatforms and the
    Secrets and Namespaces they need. Anything else (an Argo CD Application, ...) needs
    controllers this cluster doesn't have, so it is left out."""
    docs: list[dict[str, Any]] = []
    for path in sorted(examples.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in _DEMO_KINDS:
                docs.append(doc)
    return docs


def missing_password_secrets(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Secrets that PaymentPlatforms reference (``spec.database.passwordSecretRef``) but
    the documents don't contain, made up with a random password so the examples run, and
    consenting to exactly the platforms that reference them (``tenancy``)."""
    present = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs if d.get("kind") == "Secret"}
    made: dict[tuple[str | None, str], dict[str, Any]] = {}
    for doc in docs:
        ref = (
            ((doc.get("spec") or {}).get("database") or {}).get("passwordSecretRef")
            if doc.get("kind") == "PaymentPlatform"
            else None
        )
        if not ref:
            continue
        key = (doc["metadata"].get("namespace"), ref["name"])
        if key in present:
            continue
        secret = made.setdefault(
            key,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": ref["name"], "namespace": key[0], "annotations": {SECRET_CONSENT_ANNOTATION: ""}},
                "stringData": {},
            },
        )
        secret["stringData"][ref.get("key", "password")] = secrets.token_urlsafe(24)
        allowed = secret["metadata"]["annotations"]
        allowed[SECRET_CONSENT_ANNOTATION] = ",".join(
            filter(None, (allowed[SECRET_CONSENT_ANNOTATION], doc["metadata"]["name"]))
        )
    return list(made.values())


def _run_demo(cluster: LocalCluster, docs: list[dict[str, Any]], args: argparse.Namespace, say: Say) -> int:
    say(f"the cluster is yours too: export KUBECONFIG={cluster.kubeconfig}")
    state_dir = cluster.workdir / "engine-state"
    engine = getattr(args, "engine", "offline")
    env = _real_engine_env(cluster, say) if engine == "pulumi" else None
    operator = start_operator(cluster, state_dir, env=env).process
    say(f"started the operator (`payplat run`, {engine} engine, state in {state_dir}); log: {operator.log_path}")
    namespaces = sorted(
        {doc.get("metadata", {}).get("namespace") or DEMO_NAMESPACE for doc in docs if doc.get("kind") != "Namespace"}
    )
    for namespace in namespaces:
        cluster.kubectl("create", "namespace", namespace, check=False)
    for doc in docs:
        if doc.get("kind") != "Namespace":
            doc.setdefault("metadata", {}).setdefault("namespace", DEMO_NAMESPACE)
    for secret in missing_password_secrets(docs):
        meta = secret["metadata"]
        say(
            f"creating Secret {meta['namespace']}/{meta['name']} with a random password "
            "(an example references it; in a real cluster you create it)"
        )
        docs.append(secret)
    say(f"applying {sum(d.get('kind') == 'PaymentPlatform' for d in docs)} PaymentPlatform(s) from examples/")
    # What platforms reference goes first, so the operator never finds a Secret missing.
    docs.sort(key=lambda doc: ["Namespace", "Secret"].index(doc["kind"]) if doc["kind"] != "PaymentPlatform" else 2)
    print(cluster.apply(docs).stdout, end="", flush=True)
    say(
        "waiting for Ready (the offline engine runs the real Pulumi program under mocks)"
        if engine == "offline"
        else "waiting for Ready (the Pulumi CLI runs the program; the stand-in provider answers for AWS)"
    )
    if not _wait_ready(cluster, namespaces, operator, args.timeout, say):
        return 1
    print(cluster.kubectl("get", "paymentplatforms", "-A").stdout, flush=True)
    for item in cluster.get_json("paymentplatforms", "-A")["items"]:
        meta = item["metadata"]
        say(f"status of {meta['namespace']}/{meta['name']}:")
        print(yaml.safe_dump(item.get("status", {}), sort_keys=False), flush=True)
    if args.exit:
        say("done (--exit): stopping the operator and the control plane")
        return 0
    say("all Ready. Try: kubectl get pp -A; kubectl describe pp -A. Ctrl-C stops everything.")
    try:
        while operator.alive():
            time.sleep(1)
    except KeyboardInterrupt:
        say("Ctrl-C: stopping the operator and the control plane")
        return 0
    say(f"the operator exited with {operator.popen.returncode}; log: {operator.log_path}")
    return 1


def _real_engine_env(cluster: LocalCluster, say: Say) -> dict[str, str]:
    """moto on loopback and the stand-in provider for ``--engine pulumi`` (development
    tooling: imported from the checkout, it is not installed with the package)."""
    root = repo_root()
    if root is None:
        raise ClusterStartError("--engine pulumi runs from a source checkout (it needs hack/ and operator/payplat_dev)")
    if str(root / "operator") not in sys.path:
        sys.path.append(str(root / "operator"))
    from payplat_dev.moto import start_moto
    from payplat_dev.realengine import RealEngineKit, missing_pieces

    missing = missing_pieces()
    if missing:
        raise ClusterStartError("--engine pulumi needs " + "; ".join(missing))
    moto = start_moto(cluster.workdir / "logs" / "moto.log")
    cluster.processes.append(moto.process)  # stopped with the cluster
    kit = RealEngineKit(moto, cluster.workdir / "real-engine")
    say(f"moto on {moto.endpoint}: state backend {kit.backend_url}, secrets {kit.secrets_provider}")
    say(f"stand-in AWS provider: its resources and journal in {kit.standin_dir}")
    return kit.env()


def _wait_ready(
    cluster: LocalCluster, namespaces: Sequence[str], operator: ManagedProcess, timeout: float, say: Say
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not operator.alive():
            say(f"the operator exited with {operator.popen.returncode}; log: {operator.log_path}")
            print(tail(operator.log_text()), file=sys.stderr)
            return False
        pending = [
            ns
            for ns in namespaces
            if cluster.kubectl(
                "wait", "--for=condition=Ready", "paymentplatforms", "--all", "-n", ns, "--timeout=5s", check=False
            ).returncode
            != 0
        ]
        if not pending:
            return True
    say(f"not Ready after {timeout:.0f}s; operator log: {operator.log_path}")
    print(cluster.kubectl("get", "paymentplatforms", "-A").stdout, file=sys.stderr)
    return False
