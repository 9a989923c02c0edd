"""The pure parts of the local control plane and ``payplat demo`` (no processes started)."""

from __future__ import annotations

from pathlib import Path

import yaml

from payplat_dev.demo import demo_documents, missing_password_secrets
from payplat_dev.kubectl import crd_established
from payplat_dev.testbin import missing_binaries, repo_root


def test_missing_binaries_names_each_absent_or_non_executable_one(tmp_path: Path) -> None:
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    (tmp_path / "kubectl").write_text("not executable")

    assert missing_binaries(tmp_path) == ["kube-apiserver", "kubectl"]


def test_the_demo_takes_platforms_secrets_and_namespaces_and_leaves_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all(
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
                {"apiVersion": "payplat.io/v1alpha1", "kind": "PaymentPlatform", "metadata": {"name": "p"}},
            ]
        )
    )
    (tmp_path / "app.yaml").write_text(
        yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}})
    )
    (tmp_path / "notes.txt").write_text("kind: PaymentPlatform")

    assert [d["kind"] for d in demo_documents(tmp_path)] == ["Namespace", "PaymentPlatform"]


def test_a_referenced_but_absent_secret_is_made_up_once_per_name() -> None:
    def platform(name: str, secret: str) -> dict:
        return {
            "kind": "PaymentPlatform",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"database": {"passwordSecretRef": {"name": secret, "key": "password"}}},
        }

    present = {"kind": "Secret", "metadata": {"name": "given", "namespace": "ns"}}
    docs = [platform("a", "db"), platform("b", "db"), platform("c", "given"), present]

    made = missing_password_secrets(docs)

    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in made] == [("ns", "db")]
    password = made[0]["stringData"]["password"]
    assert len(password) >= 24 and password != missing_password_secrets(docs)[0]["stringData"]["password"]
    # ... and it lets exactly the platforms that reference it read it.
    assert made[0]["metadata"]["annotations"] == {"payplat.io/allowed-platforms": "a,b"}


def test_the_examples_give_the_demo_at_least_one_platform() -> None:
    root = repo_root()
    assert root is not None
    assert any(d["kind"] == "PaymentPlatform" for d in demo_documents(root / "examples"))


def test_a_crd_counts_as_established_only_once_its_condition_says_so() -> None:
    def crd(status: object) -> dict:
        return {"kind": "CustomResourceDefinition", "metadata": {"name": "x"}, "status": status}

    established = {"type": "Established", "status": "True"}

    # A CRD just created can read status: null or conditions: null for a moment.
    assert not crd_established({"kind": "CustomResourceDefinition"})
    assert not crd_established(crd(None))
    assert not crd_established(crd({"conditions": None}))
    assert not crd_established(
        crd({"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False"}]})
    )
    assert crd_established(crd({"conditions": [{"type": "NamesAccepted", "status": "True"}, established]}))
