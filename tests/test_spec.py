"""The spec is the single source of truth for defaults and validation: these tests pin
both, and check that every bad input yields a message naming the field and what is
allowed (never a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from payplat.model.identity import default_suffix
from payplat.model.limits import FARGATE_MEMORY
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.parts import DeletionPolicy
from payplat.model.spec import PlatformSpec

CASES = yaml.safe_load((Path(__file__).parent / "data" / "spec_invalid.yaml").read_text())


def test_empty_spec_gets_the_documented_defaults() -> None:
    spec = parse_spec(None, name="prod")
    assert [s.name for s in spec.services] == ["api-gateway", "payment-processor", "fraud-detector"]
    assert [s.name for s in spec.public_services()] == ["api-gateway"]
    assert spec.network.cidr == "10.0.0.0/16"
    assert spec.network.flow_logs is True
    assert spec.deletion_policy is DeletionPolicy.RETAIN
    assert spec.load_balancer.deletion_protection is True
    assert spec.logs.retention_days == 365
    assert spec.suffix("team-a", "prod") == default_suffix("team-a", "prod")
    assert parse_spec({"environmentSuffix": "live"}, name="prod").suffix("team-a", "prod") == "live"


def test_default_services_get_database_credentials_through_secrets() -> None:
    spec = parse_spec({}, name="p")
    by_name = {s.name: s for s in spec.services}
    for name in ("payment-processor", "fraud-detector"):
        assert {(r.name, r.key) for r in by_name[name].secrets} == {
            ("DB_USERNAME", "username"),
            ("DB_PASSWORD", "password"),
        }
    assert by_name["api-gateway"].secrets == []


def test_default_images_are_pinned_and_run_as_non_root() -> None:
    for service in parse_spec({}, name="p").services:
        assert ":" in service.image.rsplit("/", 1)[-1] and not service.image.endswith(":latest")
        assert service.user != "0"
        assert service.port >= 1024


def test_default_services_do_not_exit_at_once() -> None:
    """Bare busybox/alpine exit immediately and never pass a health check."""
    for service in parse_spec({}, name="p").services:
        repo = service.image.split(":")[0]
        assert not repo.endswith(("/busybox", "/alpine")) and repo not in ("busybox", "alpine")


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_invalid_spec_is_refused_with_a_message_naming_the_field(case: dict) -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(case["spec"], name="p")
    assert any(case["expect"] in line for line in error.value.problems), error.value.problems
    assert all(line.startswith("spec") for line in error.value.problems)


def test_the_catalogue_has_at_least_fifteen_distinct_mistakes() -> None:
    assert len({c["expect"] for c in CASES}) >= 15


def test_every_problem_is_reported_not_just_the_first() -> None:
    with pytest.raises(SpecError) as error:
        parse_spec({"region": "nowhere", "logs": {"retentionDays": 2}, "deletionPolicy": "Never"})
    assert len(error.value.problems) == 3


def test_non_object_spec_is_refused() -> None:
    with pytest.raises(SpecError, match="spec: must be an object, not list"):
        parse_spec([], name="p")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cpu,memory", [(cpu, mem) for cpu, mems in FARGATE_MEMORY.items() for mem in (mems[0], mems[-1])]
)
def test_every_fargate_pair_boundary_is_accepted(cpu: int, memory: int) -> None:
    spec = parse_spec(
        {"services": [{"name": "api", "image": "nginx:1.27", "public": True, "cpu": cpu, "memory": memory}]}
    )
    assert (spec.services[0].cpu, spec.services[0].memory) == (cpu, memory)


def test_image_digest_without_tag_is_accepted() -> None:
    image = "public.ecr.aws/nginx/nginx@sha256:" + "a" * 64
    assert parse_spec({"services": [{"name": "api", "image": image, "public": True}]}).services[0].image == image


def test_delete_policy_is_allowed_once_protection_is_off() -> None:
    spec = parse_spec({"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}})
    assert spec.deletion_policy is DeletionPolicy.DELETE


def test_spec_round_trips_through_its_camel_case_form() -> None:
    spec = parse_spec({"network": {"natGateways": "PerAZ", "availabilityZones": 3}}, name="p")
    dumped = spec.model_dump(by_alias=True, mode="json")
    assert dumped["network"]["natGateways"] == "PerAZ"
    assert PlatformSpec.model_validate(dumped) == spec


@pytest.mark.parametrize(
    "name,prefix",
    [("prod", "prod-"), ("Prod_Payments", "prod-paymen-"), ("9lives", "p9lives-"), ("shop.v2", "shop-v2-")],
)
def test_default_suffix_is_a_readable_label_with_a_hash(name: str, prefix: str) -> None:
    suffix = default_suffix("ns", name)
    assert suffix.startswith(prefix) and len(suffix) == len(prefix) + 8
    parse_spec({"environmentSuffix": suffix})  # a derived suffix is itself valid


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("ns", "shop.v2"), ("ns", "shop-v2")),  # the same label once dots become hyphens
        (("ns", "1shop"), ("ns", "p1shop")),  # a digit-first name gains a "p"
        (("team-a", "prod"), ("team-b", "prod")),  # same name, other namespace
        (("a-b", "c"), ("a", "b-c")),  # the old "<namespace>-<name>" ambiguity
        (("ns", "payments-platform-europe-west-production-a"), ("ns", "payments-platform-europe-west-production-b")),
    ],
)
def test_default_suffix_differs_per_owner(one: tuple[str, str], other: tuple[str, str]) -> None:
    assert default_suffix(*one) != default_suffix(*other)
    for owner in (one, other):
        suffix = default_suffix(*owner)
        assert len(suffix) <= 20 and "--" not in suffix
        parse_spec({"environmentSuffix": suffix})


# --------------------------------------------------------------------------- the CRD's reading, exactly

WEB = {"name": "web", "image": "nginx:1.27"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"region": "us-east-1\n"}, "spec.region"),  # Python's `$` took the newline; RE2's does not
        ({"region": "us-east-\u0661"}, "spec.region"),  # an Arabic-Indic digit: \d is ASCII in RE2
        ({"region": "us-east-\uff11"}, "spec.region"),  # a fullwidth digit
        ({"environmentSuffix": "prod\n"}, "spec.environmentSuffix"),
        ({"services": [{**WEB, "user": "\u0661\u0660\u0661"}]}, "spec.services[0].user"),
        ({"assumeRoleArn": "arn:aws:iam::123456789012:role/r\u00e9le"}, "spec.assumeRoleArn"),  # \w is ASCII in RE2
        ({"services": [{**WEB, "port": "8080"}]}, "spec.services[0].port"),  # no string for a number
        ({"services": [{**WEB, "public": "yes"}]}, "spec.services[0].public"),  # no string for a boolean
        ({"services": [{**WEB, "desiredCount": True}]}, "spec.services[0].desiredCount"),  # no boolean for a number
        ({"services": [{**WEB, "cpu": 256.5}]}, "spec.services[0].cpu"),
        ({"network": {"flowLogs": 1}}, "spec.network.flowLogs"),
        ({"tags": {"team": 4711}}, "spec.tags.team"),  # an unquoted number is no string
        ({"region": b"us-east-1"}, "spec"),  # YAML's !!binary: bytes have no JSON value
        ({"logs": {"retentionDays": float("nan")}}, "spec"),
    ],
)
def test_values_the_api_server_refuses_are_refused(spec: dict, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert any(problem.startswith(field) for problem in caught.value.problems), caught.value.problems


def test_a_huge_value_is_named_not_echoed() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"region": "x" * 5_000_000})
    assert all(len(problem) < 400 for problem in caught.value.problems)


def test_a_credential_looking_variable_never_shows_its_value() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"services": [{**WEB, "environment": {"DB_PASSWORD": ["hunter2-pw"]}}]})
    assert "hunter2-pw" not in " ".join(caught.value.problems)
