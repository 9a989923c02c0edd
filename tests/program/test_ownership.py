"""Who owns which AWS name and which stack: distinct owners never share one.

``program.naming.PlatformNames`` spells every account- or region-wide name; the first
tests pin that the program uses exactly those names (so the property test below speaks
about the real program), the hypothesis test checks the property over generated owners,
and the provider test checks what the AWS provider itself receives for an assumed role.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payplat.controller.claims import MemoryClaims, SuffixInUse
from payplat.model.identity import MAX_STACK_NAME, stack_name
from payplat.model.limits import AWS_LABEL, MAX_SERVICE_NAME, MAX_SUFFIX, RESERVED_SERVICE_NAMES
from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.model.tenancy import claim_key
from payplat.program.naming import PlatformNames
from payplat.program.plan import Plan, plan

#: Which input of which resource type is an AWS name, and the PlatformNames.all kind it belongs to.
NAMED = {
    "aws:ecs/cluster:Cluster": ("name", "ecs-cluster"),
    "aws:lb/loadBalancer:LoadBalancer": ("name", "elb"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "security-group"),
    "aws:iam/role:Role": ("name", "iam-role"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "log-group"),
    "aws:kms/alias:Alias": ("name", "kms-alias"),
    "aws:secretsmanager/secret:Secret": ("name", "secret"),
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": ("name", "discovery-namespace"),
    "aws:ecs/taskDefinition:TaskDefinition": ("family", "task-family"),
    "aws:lb/targetGroup:TargetGroup": ("name", "target-group"),
}


def names_in(result: Plan) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {kind: set() for _, kind in NAMED.values()}
    for resource in result.resources:
        if resource.type in NAMED:
            field, kind = NAMED[resource.type]
            found[kind].add(resource.inputs[field])
    return found


def test_the_program_uses_exactly_the_names_platform_names_lists(case: tuple[PlatformSpec, Plan]) -> None:
    spec, result = case
    namespace, name = result.stack.split("_", 1)
    names = PlatformNames(spec.suffix(namespace, name))
    expected = names.all([s.name for s in spec.services], public=[s.name for s in spec.public_services()])
    assert names_in(result) == expected
    counted = sum(1 for r in result.resources if r.type in NAMED)
    assert counted == sum(len(v) for v in expected.values())  # no two resources of a kind share a name


def test_reserved_service_names_are_exactly_the_ones_the_program_needs(default_plan: Plan) -> None:
    """A service's resources are named ``<platform>-<service><tail>``; a service name is
    reserved when that equals the logical name of one of the platform's own resources of
    the same type, or when one of its AWS names equals a platform-level one."""
    top = default_plan.of_type("payplat:index:PaymentPlatform")[0].name
    service = "api-gateway"
    service_tails: set[tuple[str, str]] = set()
    platform_names: set[tuple[str, str]] = set()
    for resource in default_plan.resources:
        name = resource.urn.rsplit("::", 1)[1]
        if name.startswith(f"{top}-{service}"):
            service_tails.add((resource.type, name[len(f"{top}-{service}") :]))
        elif name.startswith(f"{top}-") and "payplat:index:FargateService" not in resource.urn:
            platform_names.add((resource.type, name[len(top) + 1 :]))
    clashes = {
        own[: -len(tail)]
        for kind, tail in service_tails
        for own_kind, own in platform_names
        if own_kind == kind and tail and own.endswith(tail) and AWS_LABEL.match(own[: -len(tail)])
    }
    names = PlatformNames("s")
    own = names.platform_level()
    candidates = {
        part
        for found in own.values()
        for name in found
        for part in (name.rsplit("/", 1)[-1], name.removeprefix("payplat-s-"))
    }
    for candidate in filter(AWS_LABEL.match, candidates):  # a service whose AWS name would be a platform-level one
        if any(found & own[kind] for kind, found in names.service_level(candidate, public=True).items()):
            clashes.add(candidate)
    assert clashes == set(RESERVED_SERVICE_NAMES)


def test_the_provider_receives_a_typed_assumed_role_that_names_the_tenant() -> None:
    """What the AWS provider gets on the wire: camelCase keys it reads. Plain snake_case
    dicts reached it unconverted (``role_arn``) and failed with "IAM Role ARN not set"
    (pulumi/pulumi-aws#5271)."""
    role = "arn:aws:iam::111122223333:role/payplat-team-a"
    result = plan(parse_spec({"assumeRoleArn": role}, name="prod"), name="prod", namespace="team-a")
    (provider,) = result.of_type("pulumi:providers:aws")
    assert json.loads(provider.inputs["assumeRoles"]) == [
        {
            "roleArn": role,
            "sessionName": "payplat-team-a",
            "externalId": "payplat:team-a",
            "tags": {"payplat-namespace": "team-a", "payplat-platform": "prod"},
        }
    ]
    without = plan(parse_spec({}, name="prod"), name="prod", namespace="team-a").of_type("pulumi:providers:aws")[0]
    assert "assumeRoles" not in without.inputs


def test_same_name_in_two_namespaces_gets_disjoint_names_and_tags() -> None:
    one = plan(parse_spec({}, name="dev"), name="dev", namespace="t1")
    two = plan(parse_spec({}, name="dev"), name="dev", namespace="t2")
    assert one.stack != two.stack
    for kind, names in names_in(one).items():
        assert not names & names_in(two)[kind], kind
    cluster = one.of_type("aws:ecs/cluster:Cluster")[0]
    assert cluster.inputs["tags"]["payplat.io/namespace"] == "t1"


# --------------------------------------------------------------------------- the property

_dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
_k8s_name = st.from_regex(r"\A[a-z0-9]([-a-z0-9.]{0,120}[a-z0-9])?\Z")
_aws_label = st.from_regex(AWS_LABEL.pattern.replace("^", r"\A").replace("$", r"\Z"))
_suffix = st.one_of(st.none(), _aws_label.filter(lambda s: len(s) <= MAX_SUFFIX))
_service = _aws_label.filter(lambda s: len(s) <= MAX_SERVICE_NAME and s not in RESERVED_SERVICE_NAMES)
_owner = st.tuples(_dns_label, _k8s_name, _suffix, st.lists(_service, min_size=1, max_size=4, unique=True))


def _spec(suffix: str | None, services: list[str]) -> PlatformSpec:
    raw: dict[str, object] = {
        "services": [{"name": s, "image": "nginx:1.27", "public": i == 0} for i, s in enumerate(services)]
    }
    if suffix is not None:
        raw["environmentSuffix"] = suffix
    return parse_spec(raw)


@settings(max_examples=400, deadline=None)
@given(_owner, _owner)
def test_distinct_owners_never_share_a_stack_or_an_aws_name(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    (ns_a, name_a, suffix_a, services_a), (ns_b, name_b, suffix_b, services_b) = a, b
    if (ns_a, name_a) == (ns_b, name_b):
        return
    assert stack_name(ns_a, name_a) != stack_name(ns_b, name_b)
    assert max(len(stack_name(ns_a, name_a)), len(stack_name(ns_b, name_b))) <= MAX_STACK_NAME
    assert re.fullmatch(r"[A-Za-z0-9._-]+", stack_name(ns_a, name_a))  # what Pulumi accepts
    spec_a, spec_b = _spec(suffix_a, services_a), _spec(suffix_b, services_b)
    in_force_a, in_force_b = spec_a.suffix(ns_a, name_a), spec_b.suffix(ns_b, name_b)
    key_a = claim_key(spec_a.assume_role_arn, spec_a.region, in_force_a)
    key_b = claim_key(spec_b.assume_role_arn, spec_b.region, in_force_b)
    claims = MemoryClaims()
    asyncio.run(claims.claim(key_a, f"{ns_a}/{name_a}"))
    if key_a == key_b:  # one suffix in one account and region: the second owner is refused, naming the first
        with pytest.raises(SuffixInUse) as refused:
            asyncio.run(claims.claim(key_b, f"{ns_b}/{name_b}"))
        assert refused.value.holder == f"{ns_a}/{name_a}"
        return
    names_a = PlatformNames(in_force_a).all(services_a, public=services_a[:1])
    names_b = PlatformNames(in_force_b).all(services_b, public=services_b[:1])
    for kind in names_a:
        assert not names_a[kind] & names_b[kind], (kind, names_a[kind] & names_b[kind])


_word = st.from_regex(r"\A[a-z][a-z0-9]{0,4}\Z")


@settings(max_examples=300, deadline=None)
@given(st.lists(_word, min_size=2, max_size=5), st.data())
def test_the_same_words_joined_at_another_place_never_collide(words: list[str], data: st.DataObject) -> None:
    """The shapes that broke 0.1: ``a-b/c`` vs ``a/b-c`` (stacks) and suffix ``pay-api`` +
    service ``x`` vs suffix ``pay`` + service ``api-x`` (AWS names)."""
    cut_a = data.draw(st.integers(1, len(words) - 1))
    cut_b = data.draw(st.integers(1, len(words) - 1).filter(lambda cut: cut != cut_a))
    owner_a = ("-".join(words[:cut_a]), "-".join(words[cut_a:]))
    owner_b = ("-".join(words[:cut_b]), "-".join(words[cut_b:]))
    assert stack_name(*owner_a) != stack_name(*owner_b)
    suffix_a, service_a = owner_a  # the same words as suffix + service name
    suffix_b, service_b = owner_b
    if max(len(suffix_a), len(suffix_b)) > MAX_SUFFIX or max(len(service_a), len(service_b)) > MAX_SERVICE_NAME:
        return
    if {service_a, service_b} & set(RESERVED_SERVICE_NAMES):
        return
    names_a = PlatformNames(suffix_a).all([service_a], public=[service_a])
    names_b = PlatformNames(suffix_b).all([service_b], public=[service_b])
    for kind in names_a:
        assert not names_a[kind] & names_b[kind], (kind, names_a[kind] & names_b[kind])
