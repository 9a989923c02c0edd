"""The Argo CD Applications in examples/ point at real paths of this repository and pass
values the chart's schema accepts."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.ship.rendering import CHART, NAMESPACE, ROOT, run

APPS = {
    doc["metadata"]["name"]: doc
    for doc in yaml.safe_load_all((ROOT / "examples" / "argocd-application.yaml").read_text())
}


def test_operator_application_values_pass_the_chart_schema(helm: Path, tmp_path: Path) -> None:
    source = APPS["payplat-operator"]["spec"]["source"]
    assert ROOT / source["path"] == CHART
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    rendered = run(
        [str(helm), "template", source["helm"]["releaseName"], str(CHART), "--namespace", NAMESPACE, "-f", str(values)]
    ).stdout
    assert "namespace: payments" in rendered  # the Role for the watched namespace


def test_platforms_application_syncs_the_examples_but_never_prunes_them() -> None:
    spec = APPS["payment-platforms"]["spec"]
    folder = ROOT / spec["source"]["path"]
    synced = [p for p in folder.glob("*.yaml") if p.name != spec["source"]["directory"]["exclude"]]
    kinds = {doc["kind"] for p in synced for doc in yaml.safe_load_all(p.read_text()) if doc}
    assert kinds == {"PaymentPlatform"}
    assert spec["syncPolicy"]["automated"]["prune"] is False
    watched = APPS["payplat-operator"]["spec"]["source"]["helm"]["valuesObject"]["watchNamespaces"]
    assert spec["destination"]["namespace"] in watched
