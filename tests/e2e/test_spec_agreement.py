"""The CLI and the CRD accept exactly the same PaymentPlatforms: a seeded property test
comparing ``payplat plan``'s reading (``read_manifest``: metadata and ``parse_spec``)
with the real API server's (the generated CRD's schema and CEL rules, through a
server-side dry-run create) over generated and hostile manifests.

A disagreement either way is a bug: the CLI passing what the cluster refuses makes CI
lie; the cluster storing what the operator refuses makes a platform Stalled forever.
"""

from __future__ import annotations

import copy
import json
import os
import random
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from payplat.program.manifest import ManifestError, read_manifest
from payplat_dev.localcluster import LocalCluster

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [yaml.safe_load((ROOT / "examples" / name).read_text()) for name in ("platform.yaml", "minimal.yaml")]
SEED = int(os.environ.get("PAYPLAT_AGREEMENT_SEED", "9"))
CASES = 600

HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    3,
    7,
    24,
    64,
    256,
    512,
    1024,
    2048,
    65535,
    65536,
    2**31,
    2**63 - 1,
    1.5,
    2.0,
    "",
    " ",
    "a",
    "yes",
    "true",
    "8080",
    "1024",
    "0",
    "0:0",
    "1000:1000",
    "us-east-1",
    "us-east-1\n",
    "eu-west-\u0661",
    "us-east-\uff11",
    "prod",
    "prod\n",
    "Prod",
    "a" * 63,
    "a" * 64,
    "a" * 300,
    "-a",
    "a-",
    "a.b",
    "a_b",
    "\u0131",
    "nginx:1.27",
    "nginx",
    "nginx:latest",
    "docker.io/library/nginx@sha256:" + "a" * 64,
    "/",
    "/health",
    "/\n",
    "10.0.0.0/16",
    "10.0.0.0/8",
    "10.0.0.0/255.255.0.0",
    "10.0.0.1/16",
    "0.0.0.0/0",
    "Delete",
    "Retain",
    "Detect",
    "Remediate",
    "Off",
    "Single",
    "PerAZ",
    "None",
    "username",
    "password",
    "host",
    "DB_PASSWORD",
    "arn:aws:iam::123456789012:role/deployer",
    "arn:aws:iam::\u0661\u0662\u0663456789012:role/x",
    "arn:aws:iam::123456789012:role/r\u00e9le",
    "payments-db",
    "payments_db",
    "x" * 254,
    [],
    {},
    ["a"],
    {"a": "b"},
    {"A": 1},
    [{"name": "x"}],
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((*prefix, index))
            found.extend(_paths(value, (*prefix, index)))
    return found


def _mutate(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p[0] in ("spec", "metadata") and p != ("metadata",)]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif roll < 0.25 and isinstance(parent, dict):
            parent[rng.choice(["extra", "Region", "drift", "x-y"])] = rng.choice(HOSTILE)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
    return doc


def _name(rng: random.Random) -> str:
    alphabet = string.ascii_lowercase + string.digits + "-."
    return rng.choice(
        [
            "shop",
            "a",
            "payments-prod",
            "a" * 63,
            "a" * 64,
            "a.b",
            "a-b",
            "1a",
            "a" + "-" * 3 + "b",
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))),
        ]
    )


def _case(rng: random.Random, index: int) -> dict[str, Any]:
    base = copy.deepcopy(EXAMPLES[index % len(EXAMPLES)])
    base["metadata"] = {"name": _name(rng) if rng.random() < 0.15 else f"case-{index}"}
    if rng.random() < 0.1:  # valid as generated: the agreement must hold for acceptance too
        return base
    return _mutate(rng, base)


def _cli_accepts(doc: dict[str, Any], namespace: str) -> tuple[bool, str]:
    manifest = copy.deepcopy(doc)
    if isinstance(manifest.get("metadata"), dict):
        manifest["metadata"]["namespace"] = namespace
    try:
        read_manifest(json.dumps(manifest))
    except ManifestError as error:
        return False, "; ".join(error.problems)[:300]
    return True, ""


def _server_accepts(api: client.CustomObjectsApi, doc: dict[str, Any], namespace: str) -> tuple[bool, str]:
    try:
        # Strict field validation, as `kubectl apply` asks for: an unknown field is an error, not pruned.
        api.create_namespaced_custom_object(
            "payplat.io", "v1alpha1", namespace, "paymentplatforms", doc, dry_run="All", field_validation="Strict"
        )
    except ApiException as error:
        if error.status in (400, 422):
            return False, (json.loads(error.body or "{}").get("message") or "")[:300]
        raise
    return True, ""


def test_the_cli_and_the_crd_accept_exactly_the_same_manifests(cluster: LocalCluster, namespace: str) -> None:
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    rng = random.Random(SEED)
    disagreements: list[str] = []
    verdicts = {True: 0, False: 0}
    for index in range(CASES):
        doc = _case(rng, index)
        cli, cli_why = _cli_accepts(doc, namespace)
        server, server_why = _server_accepts(api, doc, namespace)
        verdicts[server] += 1
        if cli != server:
            disagreements.append(
                f"case {index}: cli {'accepts' if cli else 'refuses'} ({cli_why}), API server "
                f"{'accepts' if server else 'refuses'} ({server_why}): "
                f"{json.dumps(doc.get('metadata'))} {json.dumps(doc.get('spec'))[:400]}"
            )
    print(f"agreement seed {SEED}: {CASES} manifests, API server accepted {verdicts[True]}, refused {verdicts[False]}")
    assert verdicts[True] >= CASES // 10 and verdicts[False] >= CASES // 3  # both sides of the line were explored
    assert not disagreements, f"seed {SEED}: {len(disagreements)} disagreements:\n" + "\n".join(disagreements[:25])
