"""``payplat plan``: the CLI in all three formats, bad manifests, secrets, stability."""

from __future__ import annotations

import asyncio
import io
import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from payplat.cli import main
from payplat.program.manifest import read_manifest
from payplat.program.plan import PLACEHOLDER_PASSWORD, plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "platform.yaml"
MINIMAL = ROOT / "examples" / "minimal.yaml"
INVALID = ROOT / "tests" / "data" / "plan_invalid.yaml"
BLOCKED = ROOT / "tests" / "data" / "plan_blocked.yaml"
POLICY = ROOT / "examples" / "policies" / "org-baseline.yaml"


def cli(*argv: str) -> tuple[int, str, str]:
    """``payplat plan ARGV``: exit code, stdout, stderr (stdout is not a terminal here)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["plan", *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def example_cli() -> dict[str, tuple[int, str, str]]:
    """The realistic example through the CLI once per format (plans cost ~0.4 s each)."""
    return {fmt: cli(str(EXAMPLE), "-o", fmt) for fmt in ("json", "tree", "table")}


@pytest.fixture(scope="module")
def example_json() -> dict:  # type: ignore[type-arg]
    manifest = read_manifest(EXAMPLE.read_text())
    return plan(manifest.spec, name=manifest.name, namespace=manifest.namespace).to_json_dict()


def test_json_output_has_exactly_the_contract_shape(example_cli: dict[str, tuple[int, str, str]]) -> None:
    code, out, err = example_cli["json"]
    assert code == 0 and err == ""
    document = json.loads(out)
    assert list(document) == ["apiVersion", "kind", "stack", "resources", "outputs", "policy", "cost"]
    assert document["policy"]["blocked"] is False and document["cost"]["monthly"] > 0
    assert (document["apiVersion"], document["kind"], document["stack"]) == (
        "payplat.io/v1alpha1",
        "Plan",
        "payments_payments-prod",
    )
    for resource in document["resources"]:
        assert list(resource) == ["urn", "type", "name", "id", "parent", "custom", "inputs", "dependsOn"]
        assert isinstance(resource["custom"], bool) and isinstance(resource["inputs"], dict)
        assert (resource["id"] is None) == (not resource["custom"])
    urns = {r["urn"] for r in document["resources"]}
    assert all(r["parent"] is None or r["parent"] in urns for r in document["resources"])
    assert all(set(r["dependsOn"]) <= urns for r in document["resources"])
    assert set(document["outputs"]) >= {"vpcId", "albUrl", "services"}


def test_json_inputs_are_camel_case(example_json: dict) -> None:  # type: ignore[type-arg]
    service = next(r for r in example_json["resources"] if r["type"] == "aws:ecs/service:Service")
    assert "networkConfiguration" in service["inputs"] and "network_configuration" not in service["inputs"]


def test_json_output_is_stable_across_runs(example_cli: dict[str, tuple[int, str, str]], example_json: dict) -> None:  # type: ignore[type-arg]
    _, first, _ = example_cli["json"]
    document = json.loads(first)
    del document["policy"], document["cost"]
    assert json.dumps(document, indent=2) == json.dumps(example_json, indent=2)
    assert cli(str(EXAMPLE), "-o", "json")[1] == first


def test_tree_output_nests_resources_under_their_components(example_cli: dict[str, tuple[int, str, str]]) -> None:
    code, out, _ = example_cli["tree"]
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("stack payments_payments-prod: ")
    assert lines[1] == "└─ pulumi:pulumi:Stack  payplat-payments_payments-prod"
    assert lines[2] == "   └─ payplat:index:PaymentPlatform  payments-prod"
    vpc = next(i for i, line in enumerate(lines) if "aws:ec2/vpc:Vpc" in line)
    network = next(i for i, line in enumerate(lines) if "payplat:index:Network" in line)
    assert network < vpc and lines[vpc].index("aws:") > lines[network].index("payplat:")


def test_table_output_lists_every_resource_and_the_outputs(
    example_cli: dict[str, tuple[int, str, str]],
    example_json: dict,  # type: ignore[type-arg]
) -> None:
    code, out, _ = example_cli["table"]
    assert code == 0 and out.startswith("TYPE ")
    custom = [r for r in example_json["resources"] if r["custom"]]
    for resource in custom:
        assert f"  {resource['name']}  " in out
    assert f"{len(custom)} resources" in out
    assert f'albUrl: "{example_json["outputs"]["albUrl"]}"' in out


def test_reads_stdin_and_defaults_to_a_table_when_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(MINIMAL.read_text()))
    code, out, _ = cli("-")
    assert code == 0 and out.startswith("TYPE ") and "stack default_payments: " in out


@pytest.mark.parametrize("fmt", ["json", "tree", "table"])
def test_the_database_password_never_appears(example_cli: dict[str, tuple[int, str, str]], fmt: str) -> None:
    _, out, err = example_cli[fmt]
    assert out and PLACEHOLDER_PASSWORD not in out + err


def test_secret_values_show_as_the_mask(example_json: dict) -> None:  # type: ignore[type-arg]
    version = next(
        r for r in example_json["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
    )
    assert version["inputs"]["secretString"] == "[secret]"


def test_invalid_manifest_exits_2_with_one_message_per_problem() -> None:
    code, out, err = cli(str(INVALID), "-o", "json")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert any(line.startswith("error: metadata.name: 'Payments_Prod'") for line in lines)
    assert any("spec.services[0].image" in line and "latest" in line for line in lines)
    assert any(line.startswith("error: spec.services[0].port:") for line in lines)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: [unclosed", "manifest: not valid YAML"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "expected exactly one PaymentPlatform document, found 0",
        ),
        (
            "apiVersion: payplat.io/v1\nkind: PaymentPlatform\nmetadata: {name: x}\n",
            "apiVersion: 'payplat.io/v1' is not supported",
        ),
        ("apiVersion: payplat.io/v1alpha1\nkind: PaymentPlatform\n", "metadata: required"),
        (
            "apiVersion: payplat.io/v1alpha1\nkind: PaymentPlatform\nmetadata: {name: x}\nspec: {bogus: 1}\n",
            "spec.bogus: unknown field",
        ),
        ("- a\n- b\n", "every YAML document must be an object"),
    ],
)
def test_bad_manifests_exit_2_with_a_clear_message(monkeypatch: pytest.MonkeyPatch, text: str, expected: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = cli("-")
    assert (code, out) == (2, "")
    assert expected in err and "Traceback" not in err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, out, err = cli(str(tmp_path / "nope.yaml"))
    assert (code, out) == (2, "") and "cannot read" in err


def test_other_documents_beside_the_platform_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: payments-db}\n---\n" + MINIMAL.read_text())
    code, out, _ = cli(str(path), "-o", "json")
    assert code == 0 and json.loads(out)["stack"] == "default_payments"


def test_plan_is_safe_from_several_threads_and_inside_an_event_loop(example_json: dict) -> None:  # type: ignore[type-arg]
    manifest = read_manifest(EXAMPLE.read_text())

    def one_plan() -> dict:  # type: ignore[type-arg]
        return plan(manifest.spec, name=manifest.name, namespace=manifest.namespace).to_json_dict()

    async def from_a_coroutine() -> dict:  # type: ignore[type-arg]
        return one_plan()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: one_plan(), range(2)))
    results.append(asyncio.run(from_a_coroutine()))
    assert all(result == example_json for result in results)


def test_a_failing_program_raises_and_the_next_plan_still_works(example_json: dict) -> None:  # type: ignore[type-arg]
    import pulumi_aws as aws

    from payplat.program.plan import plan_program

    def broken_in_an_apply() -> None:
        vpc = aws.ec2.Vpc("v", cidr_block="10.0.0.0/16")
        aws.ec2.Subnet("s", vpc_id=vpc.id, cidr_block=vpc.id.apply(lambda _: 1 / 0))

    def broken_at_once() -> None:
        aws.ec2.Vpc("v", cidr_block="10.0.0.0/16")
        raise RuntimeError("program bug")

    with pytest.raises(ZeroDivisionError):
        plan_program(broken_in_an_apply, region="us-east-1", stack="s")
    with pytest.raises(RuntimeError, match="program bug"):
        plan_program(broken_at_once, region="us-east-1", stack="s")
    manifest = read_manifest(EXAMPLE.read_text())
    assert plan(manifest.spec, name=manifest.name, namespace=manifest.namespace).to_json_dict() == example_json


@pytest.mark.parametrize(
    "example",
    sorted(p for p in (ROOT / "examples").glob("*.yaml") if "kind: PaymentPlatform" in p.read_text()),
    ids=lambda p: p.name,
)
def test_every_example_manifest_plans(example: Path) -> None:
    code, out, err = cli(str(example), "-o", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["outputs"]["albUrl"].startswith(("http://", "https://"))


# --------------------------------------------------------------------------- guardrails


def test_a_critical_finding_exits_3_and_names_the_rule() -> None:
    code, out, err = cli(str(BLOCKED), "-o", "json")
    assert code == 3
    document = json.loads(out)
    assert document["policy"]["blocked"] is True
    blocking = [f for f in document["policy"]["findings"] if f["severity"] == "critical"]
    assert [(f["rule"], f["field"]) for f in blocking] == [
        ("plain-credentials", "containerDefinitions[0].environment[0].value")
    ]
    assert err.startswith("error: blocked by critical rule plain-credentials: aws:ecs/taskDefinition:TaskDefinition ")
    assert "hunter2" not in err


def test_a_waiver_annotation_lets_the_plan_pass(tmp_path: Path) -> None:
    waived = tmp_path / "waived.yaml"
    waived.write_text(
        BLOCKED.read_text().replace(
            "  namespace: payments\n",
            "  namespace: payments\n  annotations:\n    payplat.io/waive-plain-credentials: fixture, not a real password\n",
        )
    )
    code, out, _ = cli(str(waived), "-o", "json")
    assert code == 0
    assert json.loads(out)["policy"]["waivers"] == [
        {"rule": "plain-credentials", "reason": "fixture, not a real password"}
    ]


def test_the_table_shows_findings_and_the_cost_breakdown(example_cli: dict[str, tuple[int, str, str]]) -> None:
    code, out, _ = cli(str(MINIMAL))
    assert code == 0
    assert "POLICY: passes (0 critical, 0 high, 1 medium, 1 low)" in out
    assert "medium    alb-https" in out and "[CKV2_AWS_20]" in out
    assert "COST (USD/month, us-east-1 prices of 2025-01-01)" in out
    assert out.rstrip().splitlines()[-1].split()[:4] == ["TOTAL", "130.99", "130.99", "249.43"]
    assert "COST (USD/month, eu-west-1 prices of 2025-01-01)" in example_cli["tree"][1]


def test_organisation_policies_from_a_file() -> None:
    code, out, _ = cli(str(MINIMAL), "-o", "json", "--policy", str(POLICY))
    assert code == 0
    document = json.loads(out)["policy"]
    assert document["policies"] == ["org-baseline"]
    assert [(f["rule"], f["severity"]) for f in document["findings"] if f["source"] != "builtin"] == [
        ("org-baseline.cost-center-tag", "high")
    ]
    assert cli(str(EXAMPLE), "-o", "json", "--policy", str(POLICY))[0] == 0


def test_a_policy_file_with_bad_cel_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.read_text().replace("int(resource.inputs.cpu) <= 2048", "int(resource.inputs.cpu <= 2048"))
    code, out, err = cli(str(MINIMAL), "--policy", str(bad))
    assert (code, out) == (2, "")
    assert f"error: {bad}: PaymentPlatformPolicy org-baseline: spec.rules[0].expression: syntax error at line 1" in err
