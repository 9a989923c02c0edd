"""The CRD: generated from the spec model, structural, described, and as strict as the model.

Three levels of proof, cheapest first:

* the generated CRD's shape (committed copy up to date, structural, every field
  described, every field validator of the model mirrored);
* its CEL rules evaluated for real with ``celpy`` (cel-python; the Kubernetes CIDR
  functions, which celpy lacks, by a small stand-in written to the library's documented
  behaviour), checked to agree with ``parse_spec`` on a corpus of good and bad specs;
* the same corpus sent to a real kube-apiserver (``e2e`` marker), which is the only
  judge of the CEL dialect, cost budget and error messages that counts.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import celpy
import pytest
import re2
import yaml
from celpy import celtypes

from payplat.cli import main
from payplat.model import crd, crdrules, crdschema
from payplat.model.limits import (
    FARGATE_MEMORY,
    MAX_IMAGE,
    MAX_SERVICE_NAME,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_URL_PATH,
)
from payplat.model.parsing import SpecError, parse_spec

if TYPE_CHECKING:
    from payplat_dev.localcluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent
INVALID = sorted((ROOT / "tests" / "data" / "invalid").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
MISSING: Any = object()


@functools.cache
def generated() -> dict[str, Any]:
    return crd.build_crd()


def schema() -> dict[str, Any]:
    return generated()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path, properties by name, items as ``[]``, map values as ``{}``."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def all_rules() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, node in nodes(schema()):
        for rule in node.get("x-kubernetes-validations", []):
            yield path, rule


# --------------------------------------------------------------------------- the generated file


def test_committed_crd_equals_the_generated_one() -> None:
    policy = (ROOT / crd.POLICY_CRD_FILE).read_text()
    assert policy == crd.render(crd.POLICY_KIND), (
        f"{crd.POLICY_CRD_FILE} is stale: regenerate it with `payplat crd --kind {crd.POLICY_KIND} > {crd.POLICY_CRD_FILE}`"
    )
    committed = (ROOT / crd.CRD_FILE).read_text()
    assert committed == crd.render(), f"{crd.CRD_FILE} is stale: regenerate it with `payplat crd > {crd.CRD_FILE}`"


def test_the_yaml_has_no_anchors() -> None:
    assert not re.search(r"[&*]id\d+", crd.render())


def test_payplat_crd_prints_the_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    printed = capsys.readouterr().out
    assert printed == crd.render()
    assert yaml.safe_load(printed) == generated()


def test_names_scope_version_and_status_subresource() -> None:
    spec = generated()["spec"]
    assert generated()["metadata"]["name"] == "paymentplatforms.payplat.io"
    assert spec["group"] == "payplat.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "PaymentPlatform",
        "listKind": "PaymentPlatformList",
        "plural": "paymentplatforms",
        "singular": "paymentplatform",
        "shortNames": ["pp"],
        "categories": ["payplat"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in generated()["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns) == ["Ready", "Phase", "Cost/mo", "ALB", "Age", "Message"]
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["ALB"]["jsonPath"] == ".status.outputs.albUrl"
    assert columns["Cost/mo"]["jsonPath"] == ".status.cost.monthly"
    assert columns["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert columns["Message"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].message'
    assert columns["Message"]["priority"] == 1  # long: shown by `kubectl get -o wide`


# --------------------------------------------------------------------------- structural schema


def test_every_field_has_a_description() -> None:
    undescribed = [
        path
        for path, node in nodes(schema())
        if path not in ("", ".metadata") and not path.endswith(("[]", "{}")) and not node.get("description", "").strip()
    ]
    assert not undescribed, f"fields without a description (kubectl explain shows nothing): {undescribed}"


def test_schema_is_structural() -> None:
    problems = []
    for path, node in nodes(schema()):
        for keyword in ("$ref", "anyOf", "oneOf", "allOf", "not", "title", "$defs"):
            if keyword in node:
                problems.append(f"{path or '<root>'}: {keyword}")
        if "type" not in node:
            problems.append(f"{path or '<root>'}: no type")
        if node.get("additionalProperties") is False or ("properties" in node and "additionalProperties" in node):
            problems.append(f"{path}: additionalProperties with properties")
    assert not problems


def test_the_crd_sets_no_defaults() -> None:
    """The model is the one place defaults are applied (see payplat.model.crd's docstring)."""
    assert [path for path, node in nodes(schema()) if "default" in node] == []


def test_descriptions_state_the_model_defaults() -> None:
    spec = schema()["properties"]["spec"]["properties"]
    assert spec["region"]["description"].endswith('Default: "us-east-1".')
    assert spec["services"]["description"].endswith("Default: api-gateway, payment-processor, fraud-detector.")
    assert spec["services"]["items"]["properties"]["cpu"]["description"].endswith("Default: 256.")


def test_nullable_fields_are_the_optional_ones() -> None:
    spec = schema()["properties"]["spec"]
    nullable = sorted(path for path, node in nodes(spec) if node.get("nullable"))
    assert nullable == [
        ".assumeRoleArn",
        ".budget",
        ".database.passwordSecretRef",
        ".environmentSuffix",
        ".loadBalancer.accessLogs",
        ".loadBalancer.certificateArn",
        ".services[].command",
        ".services[].containerHealthCheck",
    ]


def test_bounds_come_from_the_model() -> None:
    spec = schema()["properties"]["spec"]["properties"]
    service = spec["services"]["items"]["properties"]
    assert spec["services"]["maxItems"] == 50
    assert service["image"]["maxLength"] == MAX_IMAGE
    assert service["name"]["maxLength"] == MAX_SERVICE_NAME
    assert service["healthCheckPath"]["maxLength"] == MAX_URL_PATH
    assert spec["tags"]["maxProperties"] == MAX_TAGS
    assert spec["tags"]["additionalProperties"]["maxLength"] == MAX_TAG_VALUE
    assert service["cpu"]["enum"] == list(FARGATE_MEMORY)


def test_every_field_validator_of_the_model_is_mirrored() -> None:
    """A new field validator in spec.py must get a CRD counterpart (or the API server
    would accept what the operator then refuses)."""
    formats = crdrules._field_formats()
    missing = []
    for model in crdschema.MODELS.values():
        for decorator in model.__pydantic_decorators__.field_validators.values():
            for field in decorator.info.fields:
                if (model, field) not in formats:
                    missing.append(f"{model.__name__}.{field}")
    assert not missing


def regex_literals(rule: str) -> list[str]:
    return re.findall(r"r'([^']*)'", rule)


def test_patterns_and_cel_regexes_compile_as_re2() -> None:
    """The API server's regexes are RE2: no lookarounds or backreferences, repeats <= 1000."""
    regexes = [node["pattern"] for _, node in nodes(schema()) if "pattern" in node]
    regexes += [literal for _, rule in all_rules() for literal in regex_literals(rule["rule"])]
    assert len(regexes) > 10
    for regex in regexes:
        re2.compile(regex)


def test_every_rule_has_a_message_naming_what_is_allowed() -> None:
    rules = list(all_rules())
    assert len(rules) >= 15
    for path, rule in rules:
        assert len(rule["message"]) > 15, (path, rule)


def test_status_schema_keeps_unknown_fields_and_describes_conditions() -> None:
    status = schema()["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert set(status["properties"]["lastUpdate"]["properties"]["changes"]["properties"]) == {
        "create",
        "update",
        "delete",
        "replace",
        "same",
    }


# --------------------------------------------------------------------------- CEL, evaluated


class _Cidr:
    """Stand-in for Kubernetes' CEL CIDR type (library/cidr.go: Go netip.Prefix)."""

    def __init__(self, text: str) -> None:
        address, _, bits = text.partition("/")
        self.ip = ipaddress.ip_address(address)
        self.prefix = int(bits)
        self.network = ipaddress.ip_network(f"{address}/{bits}", strict=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Cidr) and (self.ip, self.prefix) == (other.ip, other.prefix)

    __hash__ = None  # type: ignore[assignment]  # unhashable, as with __eq__ alone


def _is_cidr(text: Any) -> celtypes.BoolType:
    # netip.ParsePrefix: an address, '/', decimal bits without leading zeros, in range.
    if not re.fullmatch(r"[0-9a-fA-F.:]+/(0|[1-9][0-9]*)", str(text)):
        return celtypes.BoolType(False)
    try:
        _Cidr(str(text))
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _masked(value: _Cidr) -> _Cidr:
    return _Cidr(str(value.network))


def _contains_cidr(outer: _Cidr, inner: Any) -> celtypes.BoolType:
    inner = inner if isinstance(inner, _Cidr) else _Cidr(str(inner))
    return celtypes.BoolType(inner.network.version == outer.network.version and inner.network.subnet_of(outer.network))


K8S_FUNCTIONS = {
    "isCIDR": _is_cidr,
    "cidr": lambda text: _Cidr(str(text)),
    "ip": lambda value: value.ip,
    "family": lambda ip: celtypes.IntType(ip.version),
    "prefixLength": lambda value: celtypes.IntType(value.prefix),
    "masked": _masked,
    "containsCIDR": _contains_cidr,
}


@functools.cache
def program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=K8S_FUNCTIONS)


def keyword_problems(node: dict[str, Any], value: Any, path: str) -> list[str]:
    """The OpenAPI keywords the CRD uses, checked the way the API server does."""
    if value is None:
        return [] if node.get("nullable") else [f"{path}: schema: must not be null"]
    kind = node.get("type")
    expected = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}[kind]
    if not isinstance(value, expected) or (kind == "integer" and isinstance(value, bool)):
        return [f"{path}: schema: must be {kind}"]
    problems = []
    if "enum" in node and value not in node["enum"]:
        problems.append(f"{path}: schema: Unsupported value")
    if ("minimum" in node and value < node["minimum"]) or ("maximum" in node and value > node["maximum"]):
        problems.append(f"{path}: schema: out of range")
    if "pattern" in node and not re2.search(node["pattern"], value):
        problems.append(f"{path}: schema: should match")
    for keyword, _limit, size in (("maxLength", 1, len), ("maxItems", 1, len), ("maxProperties", 1, len)):
        if keyword in node and size(value) > node[keyword]:
            problems.append(f"{path}: schema: too long")
    if "minItems" in node and len(value) < node["minItems"]:
        problems.append(f"{path}: schema: should have at least {node['minItems']} items")
    for required in node.get("required", []):
        if required not in value:
            problems.append(f"{path}.{required}: schema: Required value")
    if node.get("x-kubernetes-list-type") == "map":
        keys = [tuple(item.get(k) for k in node["x-kubernetes-list-map-keys"]) for item in value]
        if len(keys) != len(set(keys)):
            problems.append(f"{path}: schema: Duplicate value")
    return problems


def crd_problems(node: dict[str, Any], value: Any, old: Any = MISSING, path: str = "") -> list[str]:
    """Schema keywords, unknown fields and CEL rules (with ``oldSelf`` on updates)."""
    problems = keyword_problems(node, value, path)
    if problems or value is None:
        return problems
    for rule in node.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"] and old is MISSING:
            continue
        activation = {"self": celpy.json_to_cel(value)}
        if "oldSelf" in rule["rule"]:
            activation["oldSelf"] = celpy.json_to_cel(old)
        result = program(rule["rule"]).evaluate(activation)
        if not (isinstance(result, celtypes.BoolType) and bool(result)):
            message = rule["message"]
            if "messageExpression" in rule:
                message = program(rule["messageExpression"]).evaluate(activation)
                assert isinstance(message, str), rule  # celpy: a StringType or a plain str
            problems.append(f"{path}{rule.get('fieldPath', '')}: {message}")
    if isinstance(value, dict) and path != ".metadata":  # ObjectMeta: the API server's own schema
        for key, child in value.items():
            sub = node.get("properties", {}).get(key) or node.get("additionalProperties")
            if sub is None:
                if not node.get("x-kubernetes-preserve-unknown-fields"):
                    problems.append(f'{path}.{key}: schema: unknown field "{path.lstrip(".")}.{key}"')
                continue
            child_old = old.get(key, MISSING) if isinstance(old, dict) else MISSING
            problems += crd_problems(sub, child, child_old, f"{path}.{key}")
    if isinstance(value, list):
        for index, item in enumerate(value):
            problems += crd_problems(node["items"], item, MISSING, f"{path}[{index}]")
    return problems


def manifest(name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "payplat.io/v1alpha1", "kind": "PaymentPlatform", "metadata": {"name": name}}
    if spec is not None:
        doc["spec"] = spec
    return doc


def object_problems(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return crd_problems(schema(), obj, MISSING if old is None else old)


def model_problems(spec: dict[str, Any] | None) -> list[str]:
    try:
        parse_spec(copy.deepcopy(spec))
    except SpecError as error:
        return error.problems
    return []


def invalid_case(path: Path) -> tuple[str, list[dict[str, Any]]]:
    text = path.read_text()
    first = text.splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: <message fragment>'"
    return first.removeprefix("# expect: "), list(yaml.safe_load_all(text))


def test_there_are_enough_invalid_manifests() -> None:
    assert len(INVALID) >= 12


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_refused_by_the_crd_rules(path: Path) -> None:
    expect, docs = invalid_case(path)
    *before, last = docs
    old = None
    for doc in before:
        assert object_problems(doc, old) == [], f"{path.name}: a set-up document is refused"
        old = doc
    problems = object_problems(last, old)
    assert problems, f"{path.name}: the CRD accepts it"
    if not any(expect in problem for problem in problems):
        # Only the schema keywords refuse it: their wording is the API server's (the e2e test checks it).
        assert all(" schema: " in problem for problem in problems), (expect, problems)


# Updates (several documents) are left out: immutability is the API server's job, the
# model only ever sees one spec.
@pytest.mark.parametrize("path", [p for p in INVALID if "\n---\n" not in p.read_text()], ids=lambda p: p.stem)
def test_invalid_manifest_is_refused_by_the_model_too(path: Path) -> None:
    _, (doc,) = invalid_case(path)
    assert model_problems(doc.get("spec")), f"{path.name}: the model accepts what the CRD refuses"


def test_examples_pass_the_crd_rules() -> None:
    platforms = [
        doc for path in EXAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == crd.KIND
    ]
    assert len(platforms) >= 2
    for doc in platforms:
        assert object_problems(doc) == [], doc["metadata"]["name"]


def test_immutable_fields_allow_unchanged_and_equal_to_default_updates() -> None:
    before = manifest("p", None)
    for same in ({"region": "us-east-1"}, {"network": {"cidr": "10.0.0.0/16"}}, {"suspend": True}):
        assert object_problems(manifest("p", same), before) == []
    assert object_problems(manifest("p", {"region": "eu-west-1"}), manifest("p", {"region": "eu-west-1"})) == []
    changed = object_problems(manifest("p", {"region": "eu-west-1"}), manifest("p", {"region": "eu-west-2"}))
    assert changed == [
        ".spec.region: " + next(r["message"] for _, r in all_rules() if "spec.region is" in r["message"])
    ]


# --------------------------------------------------------------------------- the model and the CRD agree


def _service(**fields: Any) -> dict[str, Any]:
    return {"name": "api", "image": "docker.io/library/nginx:1.27", "public": True, **fields}


def _services(*services: dict[str, Any]) -> dict[str, Any]:
    return {"services": list(services)}


DIGEST = "sha256:" + "a" * 64
CORPUS: list[tuple[str, dict[str, Any]]] = [
    *[
        (f"image {image[:40]}", _services(_service(image=image)))
        for image in (
            "nginx:1.27",
            "redis:7",
            "nginx",
            "nginx:latest",
            "localhost:5000/app",
            "localhost:5000/app:1",
            "registry.example.com:5000/team/api:v2",
            f"nginx@{DIGEST}",
            f"nginx:latest@{DIGEST}",
            f"nginx:1.27@{DIGEST}",
            "Nginx:1",
            "nginx:-bad",
            "nginx:1.27 ",
            "",
            "a" * 460 + ":1",
            "a" * (MAX_IMAGE - 2) + ":1",
        )
    ],
    *[
        (f"cidr {cidr}", {"network": {"cidr": cidr}})
        for cidr in (
            "10.0.0.0/16",
            "10.20.0.0/24",
            "10.0.0.0/25",
            "10.0.0.0/15",
            "172.16.0.0/16",
            "172.32.0.0/16",
            "192.168.0.0/16",
            "192.169.0.0/16",
            "127.0.0.0/16",
            "100.64.0.0/16",
            "10.0.0.1/24",
            "8.8.0.0/16",
            "10.0.0.0",
            "fd00::/64",
            "010.0.0.0/16",
            "10.0.0.0/016",
            "not-a-cidr",
            "10.0.0.0/255.255.0.0",
        )
    ],
    *[
        (f"user {user}", _services(_service(user=user)))
        for user in ("65534", "101:101", "0", "0:0", "00", "1000:0", "abc", "1" * 22, "-1")
    ],
    *[
        (f"service name {name}", _services(_service(name=name)))
        for name in ("api", "Api", "a" * MAX_SERVICE_NAME, "a" * (MAX_SERVICE_NAME + 1), "-api", "api-", "1api")
    ],
    *[
        (f"environment {key}", _services(_service(environment={key: "x"})))
        for key in ("LOG_LEVEL", "_X", "1BAD", "MY-VAR", "DB_PASSWORD", "api_key", "GITHUB_TOKEN", "PASSWORDLESS")
    ],
    *[
        (f"tags {sorted(tags)[:1]}", {"tags": tags})
        for tags in (
            {"team": "payments"},
            {"aws:owner": "x"},
            {"AWS:owner": "x"},
            {"": "x"},
            {"k" * MAX_TAG_KEY: "v"},
            {"k" * (MAX_TAG_KEY + 1): "v"},
            {"k": "v" * MAX_TAG_VALUE},
            {"k": "v" * (MAX_TAG_VALUE + 1)},
            {f"t{i}": "v" for i in range(MAX_TAGS)},
            {f"t{i}": "v" for i in range(MAX_TAGS + 1)},
        )
    ],
    *[
        (f"cpu {cpu} memory {memory}", _services(_service(cpu=cpu, memory=memory)))
        for cpu in (*FARGATE_MEMORY, 300)
        for memory in sorted({512, 1024, 2048, 3072, 4096, 8192, 16384, 30720, 31744, 2560})
    ],
    *[(f"cpu {cpu}, default memory", _services(_service(cpu=cpu))) for cpu in FARGATE_MEMORY],
    *[
        (
            f"scaling {scaling} desired {desired}",
            _services(
                _service(
                    **({"scaling": scaling} if scaling is not None else {}),
                    **({"desiredCount": desired} if desired is not None else {}),
                )
            ),
        )
        for scaling, desired in (
            (None, None),
            (None, 1),
            (None, 6),
            (None, 7),
            ({"min": 5, "max": 2}, 3),
            ({"min": 2, "max": 4}, 9),
            ({"min": 1, "max": 1}, 1),
            ({"min": 3}, None),
            ({"max": 1}, None),
            ({"max": 1}, 1),
            ({}, 2),
            ({"min": 0}, None),
            ({"cpuTarget": 96}, None),
        )
    ],
    ("two services", _services(_service(), _service(name="worker", public=False))),
    ("duplicate names", _services(_service(), _service(public=False))),
    ("no public service", _services(_service(public=False))),
    ("no services", {"services": []}),
    ("default services", {}),
    ("delete with protection", {"deletionPolicy": "Delete"}),
    ("delete without protection", {"deletionPolicy": "Delete", "loadBalancer": {"deletionProtection": False}}),
    ("retain with protection", {"deletionPolicy": "Retain", "loadBalancer": {"deletionProtection": True}}),
    ("bad deletion policy", {"deletionPolicy": "Destroy"}),
    ("secrets", _services(_service(secrets=[{"name": "DB_USER", "key": "username"}]))),
    ("secret twice", _services(_service(secrets=[{"name": "A", "key": "username"}, {"name": "A", "key": "host"}]))),
    ("secret and env", _services(_service(environment={"A": "x"}, secrets=[{"name": "A", "key": "host"}]))),
    ("secret key", _services(_service(secrets=[{"name": "A", "key": "pass"}]))),
    ("secret name", _services(_service(secrets=[{"name": "1A", "key": "host"}]))),
    *[
        (f"region {region}", {"region": region})
        for region in ("us-east-1", "us-gov-west-1", "eu-central-2", "mars", "US-EAST-1")
    ],
    *[(f"retention {days}", {"logs": {"retentionDays": days}}) for days in (1, 365, 3653, 42, 0)],
    *[
        (f"health check path {path[:10]}", _services(_service(healthCheckPath=path)))
        for path in ("/", "/health", "health", "/a b", "/" + "a" * (MAX_URL_PATH - 1), "/" + "a" * MAX_URL_PATH)
    ],
    *[(f"suffix {suffix}", {"environmentSuffix": suffix}) for suffix in ("prod", "a" * 20, "a" * 21, "Prod", None)],
    *[
        (f"role {str(arn)[:30]}", {"assumeRoleArn": arn})
        for arn in ("arn:aws:iam::123456789012:role/payplat", "arn:aws:iam::123:role/x", None)
    ],
    *[
        (f"certificate {arn[:30]}", {"loadBalancer": {"certificateArn": arn}})
        for arn in (
            "arn:aws:acm:eu-west-1:123456789012:certificate/0b7f4a52-3e1c-4c8e-9a7d-2f6d1e5c8b90",
            "arn:aws:acm:eu-west-1:123456789012:certificate/nope",
        )
    ],
    ("password secret", {"database": {"passwordSecretRef": {"name": "payments-db"}}}),
    ("password secret name", {"database": {"passwordSecretRef": {"name": "Payments_DB"}}}),
    ("unknown field", {"network": {"cidrBlock": "10.0.0.0/16"}}),
]


@pytest.mark.parametrize(("case", "spec"), CORPUS, ids=[case for case, _ in CORPUS])
def test_the_crd_and_the_model_agree(case: str, spec: dict[str, Any]) -> None:
    by_model = model_problems(spec)
    by_crd = object_problems(manifest("p", spec))
    assert bool(by_model) == bool(by_crd), f"model: {by_model or 'accepts'}; CRD: {by_crd or 'accepts'}"


KNOWN_VERDICTS = {
    "image redis:7": True,  # a numeric tag, not a registry port
    "image localhost:5000/app": False,  # a port, no tag
    f"image nginx:latest@{DIGEST}"[:46]: False,
    "cidr 127.0.0.0/16": False,  # "private" to Python's ipaddress, not RFC 1918
    "cidr 10.0.0.0/255.255.0.0": False,
    "user 00": False,
    "cpu 1024, default memory": False,  # the default 512 MiB is too small for 1 vCPU
    "scaling None desired 1": False,  # below the default scaling.min
    "delete without protection": True,
}


def test_known_verdicts() -> None:
    """Agreement alone would pass if both were wrong: pin the cases that once were."""
    specs = dict(CORPUS)
    for case, valid in KNOWN_VERDICTS.items():
        assert (not model_problems(specs[case])) is valid, case
        assert (not object_problems(manifest("p", specs[case]))) is valid, case


def test_the_corpus_has_both_verdicts() -> None:
    verdicts = [bool(model_problems(spec)) for _, spec in CORPUS]
    assert 40 < sum(verdicts) < len(verdicts) - 40


def operator_statuses() -> list[dict[str, Any]]:
    """The statuses a run of real transitions (payplat.controller.status) writes, in order."""
    from datetime import datetime

    from payplat.controller.status import next_status
    from payplat.controller.statusevents import DriftCheckFailed, Failed, PolicyBlocked, Reviewed, Started
    from payplat.engines.base import Changes, DriftReport, OperationResult, PermanentEngineError, TransientEngineError
    from payplat.guardrails import PlatformRef, review
    from payplat.program.plan import plan

    now = datetime(2026, 11, 28, tzinfo=UTC)
    spec = parse_spec({}, name="columns")
    checked = review(plan(spec, name="columns", stack="ns-columns").resources, spec, PlatformRef("columns", "ns"))
    events: list[object] = [
        PolicyBlocked("policy violation: org.cpu-cap on ...", checked.status_policy(), checked.cost.summary(), 5.0),
        Started(operation="up", started=now),
        Failed(
            operation="up",
            error=TransientEngineError("throttled", reason="Throttled"),
            started=now,
            finished=now,
            retry_in=5.0,
        ),
        DriftReport(drifted=True, changes=Changes(update=1), started=now, finished=now),
        DriftCheckFailed(error=TransientEngineError("refresh timed out"), checked=now),
        Failed(
            operation="up",
            error=PermanentEngineError("access denied", reason="AccessDenied"),
            started=now,
            finished=now,
        ),
        Reviewed(checked.status_policy(), checked.cost.summary()),
        OperationResult(
            operation="up",
            engine="offline",
            started=now,
            finished=now,
            changes=Changes(create=42),
            outputs={"albUrl": "http://alb.example"},
        ),
    ]
    statuses: list[dict[str, Any]] = []
    for event in events:
        statuses.append(next_status(statuses[-1] if statuses else {}, 1, event, now))
    return statuses


def test_statuses_written_by_the_operator_fit_the_status_schema() -> None:
    statuses = operator_statuses()
    for status in statuses:
        assert crd_problems(schema()["properties"]["status"], status, path=".status") == [], status
    assert {condition["type"] for condition in statuses[-1]["conditions"]} >= {"Ready", "Stalled", "Drifted"}


# --------------------------------------------------------------------------- the real API server


@pytest.mark.e2e
def test_the_api_server_agrees_with_the_model(cluster: LocalCluster, namespace: str) -> None:
    """Every corpus case through one server-side dry-run apply: CEL dialect, RE2 and cost for real."""
    docs = [manifest(f"c{index}", spec) for index, (_, spec) in enumerate(CORPUS)]
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs), check=False
    )
    accepted = set(re.findall(r"paymentplatform\.payplat\.io/(\S+) created", result.stdout))
    assert accepted, result.stderr
    disagreements = []
    for index, (case, spec) in enumerate(CORPUS):
        by_model = model_problems(spec)
        if bool(by_model) == (f"c{index}" in accepted):
            said = [line for line in result.stderr.splitlines() if f'"c{index}"' in line]
            disagreements.append(f"{case}: model {by_model or 'accepts'}; API server {said or 'accepts'}")
    assert not disagreements


@pytest.mark.e2e
@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_the_api_server_refuses_each_invalid_manifest_with_its_message(
    cluster: LocalCluster, namespace: str, path: Path
) -> None:
    expect, docs = invalid_case(path)
    *before, last = docs
    for doc in before:
        cluster.apply(doc, namespace=namespace)
    refused = cluster.apply(last, namespace=namespace, check=False)
    assert refused.returncode != 0 and expect in refused.stderr, refused.stderr


@pytest.mark.e2e
def test_kubectl_explain_documents_the_services(cluster: LocalCluster) -> None:
    explained = cluster.kubectl("explain", "paymentplatform.spec.services").stdout
    assert "Fargate services (1-50)" in explained
    assert "Container image with an explicit tag or sha256 digest" in explained
    assert "Default: 256." in explained


@pytest.mark.e2e
def test_the_api_server_stores_operator_statuses_and_prints_the_columns(cluster: LocalCluster, namespace: str) -> None:
    cluster.apply(manifest("columns", None), namespace=namespace)
    for status in operator_statuses():
        cluster.kubectl(
            "patch",
            "paymentplatform",
            "columns",
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )
    stored = cluster.get_json("paymentplatform", "columns", namespace=namespace)["status"]
    assert stored["outputs"] == {"albUrl": "http://alb.example"} and stored["phase"] == "Ready"
    header, row = cluster.kubectl("get", "pp", "columns", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "PHASE", "COST/MO", "ALB", "AGE", "MESSAGE"]
    assert row.split()[:5] == ["columns", "True", "Ready", "130.99", "http://alb.example"]
    cluster.kubectl("wait", "--for=condition=Ready", "pp/columns", "-n", namespace, "--timeout=10s")
