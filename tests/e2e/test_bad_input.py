"""Bad input never reaches the engine: with the operator watching, every manifest of
``tests/data/invalid/`` is refused by the API server itself (schema and CEL rules of the
CRD), with its message, and the engine's state shows no trace of any of them.

(``tests/test_crd.py`` checks each message against the API server with a dry run; this
test applies them for real, to a namespace an operator is reconciling.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from payplat.model.identity import stack_name
from payplat_dev.localcluster import LocalCluster
from payplat_dev.testbin import repo_root

from .support import RunOperator, get_platform, journal, platform, wait_ready

pytestmark = pytest.mark.e2e

INVALID = sorted(((repo_root() or Path.cwd()) / "tests" / "data" / "invalid").glob("*.yaml"))


def invalid_case(path: Path) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """(expected message, set-up documents the API server accepts, the refused document)."""
    text = path.read_text()
    expect = text.splitlines()[0].removeprefix("# expect: ")
    *before, last = [doc for doc in yaml.safe_load_all(text) if doc]
    return expect, before, last


def test_every_invalid_manifest_is_refused_by_the_api_server_and_never_reaches_the_engine(
    cluster: LocalCluster, namespace: str, run_operator: RunOperator, state_dir: Path
) -> None:
    assert len(INVALID) >= 10
    operator = run_operator()
    cases = [(path.stem, *invalid_case(path)) for path in INVALID]

    # Updates need their valid original first; the operator makes those Ready.
    originals = {last["metadata"]["name"]: before[-1] for _, _, before, last in cases if before}
    for doc in originals.values():
        cluster.apply(doc, namespace=namespace)
    for name in originals:
        wait_ready(cluster, namespace, name, operator)
    journals = {name: journal(state_dir, namespace, name) for name in originals}

    refusals = {}
    for case, expect, _, last in cases:
        result = cluster.apply(last, namespace=namespace, check=False)
        refusals[case] = (result.returncode, expect, result.stderr)
    # A valid platform applied after them all: once it is Ready the operator has seen
    # every watch event that came before it.
    cluster.apply(platform("sentinel"), namespace=namespace)
    wait_ready(cluster, namespace, "sentinel", operator)

    accepted = {case: r for case, r in refusals.items() if r[0] == 0}
    unclear = {case: r for case, r in refusals.items() if not _clear(expect=r[1], stderr=r[2])}
    assert accepted == {} and unclear == {}
    stacks = {p.stem for p in (state_dir / "cloud").glob("*.jsonl")}
    assert stacks == {stack_name(namespace, name) for name in [*originals, "sentinel"]}
    for name, before in journals.items():
        assert journal(state_dir, namespace, name) == before  # the refused update changed nothing
        assert get_platform(cluster, namespace, name)["metadata"]["generation"] == 1
    created = [last["metadata"]["name"] for _, _, before, last in cases if not before]
    assert [name for name in created if get_platform(cluster, namespace, name)] == []


def _clear(expect: str, stderr: str) -> bool:
    """The API server's own refusal, naming the field, with the rule's message."""
    from_server = "is invalid" in stderr or "Error from server" in stderr
    return from_server and "spec." in stderr and expect in stderr
