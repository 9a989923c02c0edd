"""The PaymentPlatform CustomResourceDefinition, generated from the spec model.

``spec.py`` is the single source of truth: the API server must refuse what the operator
would refuse, with a message a person can act on, before anything reaches an engine. So
the CRD is derived, never hand-written: the model's JSON schema becomes a structural
openAPIV3Schema (``$ref`` inlined, ``anyOf [X, null]`` as ``nullable``, descriptions from
the attribute docstrings, so ``kubectl explain`` documents every field), the formats the
field validators check become ``pattern``/``enum`` or CEL, and the rules that span fields
(``spec._cross_field_problems``) become ``x-kubernetes-validations`` built from the same
constants.

No defaults in the CRD, on purpose. The API server would persist them into every stored
object at write time, freezing today's defaults: after an upgrade that changes a default,
old objects would silently keep the old value while new ones get the new one, and
GitOps tools would see fields nobody wrote. ``services`` defaults to three demo services
and ``environmentSuffix`` to one derived from metadata.name, neither of which a schema
default can say. The model fills defaults at reconcile time instead; the CEL rules read
absent fields as the model's default (``_value``), and each description states the default.

``payplat crd > crds/paymentplatforms.payplat.io.yaml`` regenerates the committed copy;
``tests/test_crd.py`` fails when they differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from enum import Enum
from typing import Any

import yaml
from pydantic import BaseModel

from payplat.engines.base import Changes
from payplat.guardrails.orgpolicy import LabelSelector, PolicyRule, PolicySpec, SelectorRequirement
from payplat.model.spec import (
    AWS_LABEL,
    CERT_ARN,
    CREDENTIAL_NAME,
    ENV_NAME,
    FARGATE_MEMORY,
    IMAGE,
    IMAGE_DIGEST,
    IMAGE_TAG,
    K8S_NAME,
    LOG_PREFIX,
    LOG_RETENTION_DAYS,
    MAX_K8S_NAME,
    MAX_LOG_PREFIX,
    MAX_RESOURCE_NAME,
    MAX_SERVICE_NAME,
    MAX_SUFFIX,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_URL_PATH,
    PRIVATE_RANGES,
    REGION,
    RESERVED_SERVICE_NAMES,
    RESOURCE_NAME,
    ROLE_ARN,
    ROOT_USER,
    S3_BUCKET,
    SECRET_KEYS,
    URL_PATH,
    USER_ID,
    VPC_PREFIXES,
    AccessLogsSpec,
    BudgetSpec,
    ChangeControlSpec,
    DatabaseSpec,
    DeletionPolicy,
    DriftDetectionSpec,
    LoadBalancerSpec,
    LogsSpec,
    NetworkSpec,
    PasswordRef,
    PlatformSpec,
    ScalingSpec,
    SecretRef,
    ServiceSpec,
    _ranges,
)

__all__ = ["CRD_FILE", "GROUP", "KIND", "PLURAL", "POLICY_CRD_FILE", "POLICY_KIND", "POLICY_PLURAL", "VERSION",
           "add_arguments", "build_crd", "build_policy_crd", "command", "render"]

GROUP = "payplat.io"
VERSION = "v1alpha1"
KIND = "PaymentPlatform"
PLURAL = "paymentplatforms"
#: Where the committed copy lives, relative to the repository root.
CRD_FILE = f"crds/{PLURAL}.{GROUP}.yaml"

#: Every model the spec schema is made of, by the name pydantic gives its ``$defs`` entry.
MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (PlatformSpec, NetworkSpec, ServiceSpec, ScalingSpec, SecretRef, DatabaseSpec,
                  PasswordRef, LoadBalancerSpec, AccessLogsSpec, LogsSpec, DriftDetectionSpec, BudgetSpec,
                  ChangeControlSpec)
}

#: An IPv4 CIDR is at most "255.255.255.255/32"; the bound keeps CEL cost estimates small.
MAX_CIDR = len("255.255.255.255/32")


# --------------------------------------------------------------------------- CEL helpers


def _literal(value: Any) -> str:
    """A Python default as a CEL literal."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no CEL literal for {value!r}")


def _default(model: type[BaseModel], field: str) -> Any:
    return model.model_fields[field].get_default(call_default_factory=True)


def _alias(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


def _default_at(model: type[BaseModel], *path: str) -> Any:
    """The model's default for a nested field, e.g. ``ServiceSpec().scaling.min``."""
    head, *rest = path
    value = _default(model, head)
    for name in rest:
        value = getattr(value, name)
    return value


def _value(var: str, model: type[BaseModel], *path: str) -> str:
    """CEL for a field's value as the model will see it: the manifest's, else the default.

    ``_value("self", ServiceSpec, "scaling", "min")`` reads ``self.scaling.min``, falling
    back to ``ServiceSpec().scaling.min`` when ``scaling`` is absent and to
    ``ScalingSpec.min``'s default when only ``min`` is.
    """
    head, *rest = path
    attr = f"{var}.{_alias(model, head)}"
    if not rest:
        return f"(has({attr}) ? {attr} : {_literal(_default(model, head))})"
    inner_model = type(_default(model, head))
    return f"(has({attr}) ? {_value(attr, inner_model, *rest)} : {_literal(_default_at(model, *path))})"


def _rule(rule: str, message: str, *, field_path: str | None = None,
          message_expression: str | None = None) -> dict[str, Any]:
    """One x-kubernetes-validations entry. ``message_expression`` (CEL returning a string)
    can name the offending key; ``message`` stays as the fallback the API server uses if
    that expression fails."""
    out: dict[str, Any] = {"rule": rule, "message": message}
    if message_expression:
        out["messageExpression"] = message_expression
    if field_path:
        out["fieldPath"] = field_path
    return out


def _every_key(condition: str, problem: str) -> dict[str, Any]:
    """A rule on a map's keys (``k``) whose message names the first key that breaks it."""
    return _rule(f"self.all(k, {condition})", f"a key {problem}",
                 message_expression=f"'key ' + self.filter(k, !({condition}))[0] + {json.dumps(' ' + problem)}")


def _cel_string(value: str) -> str:
    """A CEL string literal for a regex: raw, so backslashes reach RE2 unchanged."""
    assert "'" not in value, value
    return f"r'{value}'"


# --------------------------------------------------------------------------- per-field formats


def _field_formats() -> dict[tuple[type[BaseModel], str], dict[str, Any]]:
    """What each field validator in spec.py checks, as schema keywords or CEL.

    Plain ``pattern`` where the API server's message (the regex) is clear enough; CEL
    where a person needs words (images, CIDRs, root users). ``tests/test_crd.py`` checks
    that every field validator has an entry here.
    """
    image = _cel_string(IMAGE.pattern)
    cidr = "cidr(self)"
    private = " || ".join(f"cidr('{net}').containsCIDR({cidr})" for net in PRIVATE_RANGES)
    low, high = VPC_PREFIXES
    return {
        (PlatformSpec, "environment_suffix"): {"pattern": AWS_LABEL.pattern, "maxLength": MAX_SUFFIX},
        (PlatformSpec, "region"): {"pattern": REGION.pattern},
        (PlatformSpec, "assume_role_arn"): {"pattern": ROLE_ARN.pattern},
        (PlatformSpec, "tags"): {
            "additionalProperties": {"maxLength": MAX_TAG_VALUE},
            "x-kubernetes-validations": [
                _every_key(f"size(k) >= 1 && size(k) <= {MAX_TAG_KEY} && !k.matches(r'^(?i)aws:')",
                           f"must be 1-{MAX_TAG_KEY} characters and not start with 'aws:' (reserved by AWS)"),
            ],
        },
        (NetworkSpec, "cidr"): {
            "maxLength": MAX_CIDR,
            "x-kubernetes-validations": [
                _rule(f"isCIDR(self) && {cidr}.ip().family() == 4 && {cidr} == {cidr}.masked()",
                      "must be an IPv4 network in CIDR form with no host bits set, e.g. 10.0.0.0/16"),
                _rule(f"!isCIDR(self) || ({cidr}.prefixLength() >= {low} && {cidr}.prefixLength() <= {high})",
                      f"prefix length must be /{low} to /{high}"),
                _rule(f"!isCIDR(self) || {cidr}.ip().family() != 4 || {private}",
                      f"must be inside a private range ({', '.join(map(str, PRIVATE_RANGES))})"),
            ],
        },
        # Unique names as a list-map: the API server checks it natively ("Duplicate value"),
        # where a CEL rule comparing every pair of unbounded names would be over budget.
        (ServiceSpec, "secrets"): {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        (SecretRef, "name"): {"pattern": ENV_NAME.pattern},
        (SecretRef, "key"): {"enum": list(SECRET_KEYS)},
        (ServiceSpec, "name"): {
            "pattern": AWS_LABEL.pattern,
            "maxLength": MAX_SERVICE_NAME,
            "x-kubernetes-validations": [
                _rule(f"!(self in {json.dumps(list(RESERVED_SERVICE_NAMES))})",
                      f"is reserved for the platform's own resources (reserved: {', '.join(RESERVED_SERVICE_NAMES)})"),
            ],
        },
        (ServiceSpec, "image"): {
            "x-kubernetes-validations": [
                _rule(f"self.matches({image})",
                      "must be an image reference: [registry[:port]/]repository[:tag][@sha256:digest]"),
                _rule(f"!self.matches({image}) || !self.matches(r':latest(@{IMAGE_DIGEST})?$')",
                      "the tag 'latest' is not allowed: pin a version tag or a sha256 digest"),
                _rule(f"!self.matches({image}) || self.matches(r'(:{IMAGE_TAG}|@{IMAGE_DIGEST})$')",
                      "needs an explicit tag or sha256 digest (an implicit 'latest' is not allowed)"),
            ],
        },
        (ServiceSpec, "cpu"): {"enum": list(FARGATE_MEMORY)},
        (ServiceSpec, "health_check_path"): {"pattern": URL_PATH.pattern, "maxLength": MAX_URL_PATH},
        (ServiceSpec, "user"): {
            "pattern": USER_ID.pattern,
            "x-kubernetes-validations": [
                _rule(f"!self.matches({_cel_string(ROOT_USER.pattern)})", "containers may not run as root (UID 0)"),
            ],
        },
        (ServiceSpec, "environment"): {
            "x-kubernetes-validations": [
                _every_key(f"k.matches({_cel_string(ENV_NAME.pattern)})",
                           f"is not an environment variable name ({ENV_NAME.pattern})"),
            ],
        },
        (PasswordRef, "name"): {"pattern": K8S_NAME.pattern, "maxLength": MAX_K8S_NAME},
        (LoadBalancerSpec, "certificate_arn"): {"pattern": CERT_ARN.pattern},
        (AccessLogsSpec, "bucket"): {
            "pattern": S3_BUCKET.pattern,
            "x-kubernetes-validations": [_rule("!self.contains('..')", "an S3 bucket name has no '..'")],
        },
        (AccessLogsSpec, "prefix"): {
            "pattern": LOG_PREFIX.pattern,
            "maxLength": MAX_LOG_PREFIX,
            "x-kubernetes-validations": [_rule("!self.contains('AWSLogs')", "must not contain AWSLogs, which Elastic Load Balancing adds itself")],
        },
        (LogsSpec, "retention_days"): {"enum": list(LOG_RETENTION_DAYS)},
        # A set: the API server refuses a kind listed twice ("Duplicate value"), as the model does.
        (ChangeControlSpec, "allow_protected"): {"x-kubernetes-list-type": "set"},
    }


# --------------------------------------------------------------------------- cross-field rules


def _fargate_rules() -> list[dict[str, Any]]:
    """One rule per cpu size, so each message names exactly the memory sizes allowed.

    (A single rule with a ``messageExpression`` would need ``string(int)``, whose
    estimated cost the API server refuses.)
    """
    cpu = _value("self", ServiceSpec, "cpu")
    memory = _value("self", ServiceSpec, "memory")
    return [
        _rule(f"{cpu} != {size} || {memory} in [{', '.join(map(str, allowed))}]",
              f"with cpu {size}, memory must be {_ranges(allowed)}", field_path=".memory")
        for size, allowed in FARGATE_MEMORY.items()
    ]


def _service_rules() -> list[dict[str, Any]]:
    low = _value("self", ServiceSpec, "scaling", "min")
    high = _value("self", ServiceSpec, "scaling", "max")
    desired = _value("self", ServiceSpec, "desired_count")
    secrets, environment = _alias(ServiceSpec, "secrets"), _alias(ServiceSpec, "environment")
    return [
        *_fargate_rules(),
        _rule(f"!({low} <= {high}) || ({low} <= {desired} && {desired} <= {high})",
              "desiredCount must be between scaling.min and scaling.max", field_path=".desiredCount"),
        _rule(f"!has(self.{secrets}) || !has(self.{environment}) || "
              f"self.{secrets}.all(s, !(s.name in self.{environment}))",
              "a variable comes from one place: a secrets[].name is also set in environment",
              field_path=f".{secrets}"),
    ]


def _scaling_rules() -> list[dict[str, Any]]:
    low, high = _value("self", ScalingSpec, "min"), _value("self", ScalingSpec, "max")
    return [_rule(f"{low} <= {high}", "scaling.min must not be greater than scaling.max", field_path=".min")]


def _unique_names(what: str) -> dict[str, Any]:
    # No reason=FieldValueDuplicate: the API server then prints "Duplicate value" and drops the message.
    # (A messageExpression naming the duplicate is over the API server's cost budget.)
    return _rule("self.all(x, self.exists_one(y, y.name == x.name))", f"{what} names must be unique")


def _spec_rules() -> list[dict[str, Any]]:
    policy = _value("self", PlatformSpec, "deletion_policy")
    protected = _value("self", PlatformSpec, "load_balancer", "deletion_protection")
    return [_rule(f"!({policy} == {_literal(DeletionPolicy.DELETE)} && {protected})",
                  "must be false when spec.deletionPolicy is Delete (destroy would fail on the protected load balancer)",
                  field_path=".loadBalancer.deletionProtection")]


def _name_rule() -> dict[str, Any]:
    """metadata.name must be a DNS label: the API server alone would take any DNS
    subdomain (dots, 253 characters), which ``payplat plan`` and the stack names refuse."""
    return _rule(f"size(self.metadata.name) <= {MAX_RESOURCE_NAME} && self.metadata.name.matches("
                 f"{_cel_string(RESOURCE_NAME.pattern)})",
                 f"metadata.name must be a DNS label (lowercase letters, digits and '-', at most {MAX_RESOURCE_NAME} "
                 "characters): stack and AWS names are built from it")


def _immutable_rules() -> list[dict[str, Any]]:
    """``self == oldSelf`` on the effective values, at the object's root.

    A rule on the field itself runs only when both old and new objects have the field, so
    adding ``region: eu-west-1`` to a platform that relied on the default would slip
    through; a rule on ``spec`` would miss an object created without a spec at all.
    """
    rules = []
    for name, path in (("spec.region", ("region",)), ("spec.network.cidr", ("network", "cidr"))):
        default = _literal(_default_at(PlatformSpec, *path))
        new = _value("self.spec", PlatformSpec, *path)
        old = _value("oldSelf.spec", PlatformSpec, *path)
        rules.append(_rule(
            f"(has(self.spec) ? {new} : {default}) == (has(oldSelf.spec) ? {old} : {default})",
            f"{name} is immutable: the platform's AWS resources cannot move; create a new PaymentPlatform instead",
            field_path="." + name,
        ))
    return rules


#: Rules on a model's object node, and on particular fields of it.
OBJECT_RULES = {ServiceSpec: _service_rules, ScalingSpec: _scaling_rules, PlatformSpec: _spec_rules}


def _field_rules() -> dict[tuple[type[BaseModel], str], list[dict[str, Any]]]:
    public = _value("s", ServiceSpec, "public")
    return {
        (PlatformSpec, "services"): [
            _unique_names("service"),
            _rule(f"self.exists(s, {public})",
                  "at least one service must be public (it sits behind the load balancer)"),
        ],
        (PolicySpec, "rules"): [_unique_names("rule")],
        (ServiceSpec, "environment"): [
            _every_key(f"!k.matches({_cel_string('(?i)' + CREDENTIAL_NAME.pattern)})",
                       "looks like a credential; inject it through secrets (valueFrom the database secret) instead"),
        ],
    }


# --------------------------------------------------------------------------- schema conversion


class _Converter:
    """pydantic JSON schema -> Kubernetes structural schema, one node at a time."""

    def __init__(self, root: type[BaseModel] = PlatformSpec, models: dict[str, type[BaseModel]] | None = None) -> None:
        raw = root.model_json_schema(by_alias=True)
        self.defs: dict[str, Any] = raw.pop("$defs", {})
        self.root_model = root
        self.root = raw
        self.models = MODELS if models is None else models
        self.formats = _field_formats()
        self.rules = _field_rules()

    def spec(self) -> dict[str, Any]:
        return self.model(self.root_model, self.root)

    def model(self, model: type[BaseModel], node: dict[str, Any]) -> dict[str, Any]:
        by_alias = {_alias(model, name): name for name in model.model_fields}
        out: dict[str, Any] = {"type": "object"}
        if node.get("description"):
            out["description"] = node["description"]
        out["properties"] = {
            alias: self.field(model, by_alias[alias], prop) for alias, prop in node["properties"].items()
        }
        if node.get("required"):
            out["required"] = list(node["required"])
        if model in OBJECT_RULES:
            out["x-kubernetes-validations"] = OBJECT_RULES[model]()
        return out

    def field(self, model: type[BaseModel], name: str, node: dict[str, Any]) -> dict[str, Any]:
        if not node.get("description"):
            raise ValueError(f"{model.__name__}.{name} has no docstring: `kubectl explain` would show nothing for it")
        out = self.node(node)
        info = model.model_fields[name]
        default = "" if info.is_required() else _describe_default(info.get_default(call_default_factory=True))
        if default:
            out["description"] = f"{out['description']} Default: {default}."
        extra = dict(self.formats.get((model, name), {}))
        rules = extra.pop("x-kubernetes-validations", []) + self.rules.get((model, name), [])
        for key, value in extra.items():
            out[key] = {**out[key], **value} if isinstance(value, dict) else value
        if rules:
            out["x-kubernetes-validations"] = out.get("x-kubernetes-validations", []) + rules
        return out

    def node(self, node: dict[str, Any]) -> dict[str, Any]:
        node = dict(node)
        if "$ref" in node:
            name = node.pop("$ref").rsplit("/", 1)[-1]
            target = self.defs[name]
            if name in self.models:
                converted = self.model(self.models[name], target)
                if node.get("description"):
                    converted["description"] = node["description"]
                return converted
            node = {**target, **node}
        if "anyOf" in node:
            variants = [v for v in node.pop("anyOf") if v != {"type": "null"}]
            if len(variants) != 1:
                raise ValueError(f"cannot express anyOf {variants} in a structural schema")
            converted = self.node({**variants[0], "description": node.get("description")})
            converted["nullable"] = True
            return converted
        out: dict[str, Any] = {"type": node["type"]}
        if node.get("description"):
            out["description"] = node["description"]
        for key in ("enum", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
                    "minProperties", "maxProperties", "pattern"):
            if key in node:
                out[key] = node[key]
        if node["type"] == "array":
            out["items"] = self.node(node["items"])
        if node["type"] == "object" and isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = self.node(node["additionalProperties"])
        return out


def _describe_default(value: Any) -> str:
    """The model's default in words for ``kubectl explain``; empty when there is nothing to say."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, list) and value and all(hasattr(item, "name") for item in value):
        return ", ".join(item.name for item in value)
    if value is None or value == "" or isinstance(value, (BaseModel, dict, list)):
        return ""
    return json.dumps(value)


# --------------------------------------------------------------------------- status


def _status_schema() -> dict[str, Any]:
    """What the operator writes (payplat.controller.status), described for ``kubectl explain``.

    Unknown fields are kept (``x-kubernetes-preserve-unknown-fields``): kopf may store its
    own bookkeeping under ``status.kopf``, and a newer operator may add fields before the
    CRD is upgraded.
    """
    def string(description: str) -> dict[str, Any]:
        return {"type": "string", "description": description}

    def timestamp(description: str) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", "description": description}

    changes: dict[str, Any] = {
        "type": "object",
        "description": "Resource change counts of the operation, as Pulumi's summary reports them.",
        "properties": {f.name: {"type": "integer", "description": f"Resources to {f.name}" if f.name != "same"
                                else "Resources left unchanged."} for f in dataclasses.fields(Changes)},
    }
    for prop in changes["properties"].values():
        if not prop["description"].endswith("."):
            prop["description"] += "."
    condition = {
        "type": "object",
        "description": "A metav1.Condition.",
        "required": ["type", "status"],
        "properties": {
            "type": string("Ready, Reconciling, Stalled or Drifted."),
            "status": {"type": "string", "enum": ["True", "False", "Unknown"], "description": "True, False or Unknown."},
            "reason": string("One CamelCase word a program can switch on."),
            "message": string("What happened, for a person."),
            "lastTransitionTime": timestamp("When status last changed."),
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The metadata.generation this condition describes."},
        },
    }
    return {
        "type": "object",
        "description": "What the operator observed and did; written only by the operator.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "phase": string("One-word summary for people and printer columns; automation should read conditions."),
            "message": string("The latest outcome in one line."),
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The metadata.generation the rest of the status describes."},
            "engine": string("Which engine produced this status: pulumi, or offline (clearly fake outputs)."),
            "conditions": {
                "type": "array",
                "description": "Kubernetes-convention conditions (kstatus): Ready, Reconciling, Stalled, Drifted.",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "outputs": {
                "type": "object",
                "description": "Stack outputs (ALB URL, VPC and cluster ids, ...); never secret values.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "lastUpdate": {
                "type": "object",
                "description": "The last engine operation that changed AWS (or tried to).",
                "properties": {
                    "operation": string("up, destroy, refresh or preview."),
                    "result": string("Succeeded or Failed."),
                    "startTime": timestamp("When the operation started."),
                    "endTime": timestamp("When the operation finished."),
                    "changes": changes,
                },
            },
            "stackLock": {
                "type": "object",
                "description": "Present while an operation waits for a stack lock whose holder is not provably "
                               "one of this operator's own ended processes: who holds it and since when. The "
                               "operator never breaks such a lock; delete the lock file once the holder has ended.",
                "properties": {
                    "who": string("user@host of the holder, as the lock file names it."),
                    "hostname": string("The host (or pod) that took the lock."),
                    "username": string("The user that took the lock."),
                    "pid": {"type": "integer", "format": "int64", "description": "The holder's process id on its host."},
                    "since": timestamp("When the lock was taken."),
                    "lockFile": string("The lock file's key in the state backend."),
                    "judgement": string("Why the holder counts as alive."),
                },
            },
            "lastHandledReconcileRequest": string(
                "The payplat.io/reconcile-request annotation value the last reconcile answered."),
            "policy": {
                "type": "object",
                "description": "The guardrails' review of the last plan (built-in rules, PaymentPlatformPolicies, waivers).",
                "properties": {
                    "blocked": {"type": "boolean", "description": "An unwaived critical finding blocks the apply."},
                    "counts": {"type": "object", "description": "Unwaived findings per severity.",
                               "additionalProperties": {"type": "integer"}},
                    "findings": {"type": "array", "description": "The worst findings first (at most 20).",
                                 "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "waivers": {"type": "array", "description": "Waived rules and the reasons given.",
                                "items": {"type": "object", "properties": {"rule": string("The waived rule id."),
                                                                           "reason": string("Why it is waived.")}}},
                    "policies": {"type": "array", "items": {"type": "string"},
                                 "description": "The PaymentPlatformPolicies that selected this platform."},
                },
            },
            "cost": {
                "type": "object",
                "description": "Monthly cost estimate of the last plan, from the price table shipped with the operator.",
                "properties": {
                    "currency": string("USD."),
                    "monthly": string("At desiredCount, e.g. 130.99."),
                    "min": string("With every service at scaling.min."),
                    "max": string("With every service at scaling.max."),
                    "priceDate": string("Date of the prices used."),
                    "error": string("Why there is no estimate (a region the price table does not cover)."),
                },
            },
            **_change_control_status(),
            "lastDriftCheck": {
                "type": "object",
                "description": "The last drift check (refresh and preview, expecting no changes).",
                "properties": {
                    "time": timestamp("When the check finished."),
                    "drifted": {"type": "boolean", "nullable": True,
                                "description": "Whether AWS differed from the stack; null when the check failed."},
                    "changes": changes,
                    "error": string("Why the check could not tell, when it failed."),
                    "request": string("The payplat.io/check-drift annotation value this check answered."),
                },
            },
        },
    }


def _change_control_status() -> dict[str, Any]:
    """status.pendingChange, status.history and the plan ConfigMaps (payplat.controller.changerecords)."""
    def free(description: str, kind: str = "object") -> dict[str, Any]:
        node: dict[str, Any] = {"type": kind, "description": description}
        if kind == "object":
            node["x-kubernetes-preserve-unknown-fields"] = True
        else:
            node["items"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return node

    return {
        "pendingChange": free("The previewed change waiting for approval (phase AwaitingApproval): planHash, change "
                              "counts, the resources to be replaced or deleted with Pulumi's reason, protected "
                              "kinds, cost and policy deltas, and the ConfigMap holding the readable plan. Approve "
                              "with: kubectl annotate pp NAME payplat.io/approve=<planHash>."),
        "history": free("The last changeControl.historyLimit operations: generation, operation, result, change "
                        "counts, planHash, approvedBy (field manager and annotation value), updateId.", "array"),
        "planConfigMaps": free("The plan ConfigMaps the operator created for this platform (name and UID), newest "
                               "last; older ones are deleted.", "array"),
        "lastHandledApproval": {"type": "string",
                                "description": "The payplat.io/approve annotation value the operator last acted on."},
    }


# --------------------------------------------------------------------------- the CRD


def _printer_columns() -> list[dict[str, Any]]:
    """Ready/Phase/ALB/Age for everyone; the long message only with ``-o wide``."""
    ready = '.status.conditions[?(@.type=="Ready")]'
    return [
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Cost/mo", "type": "string", "jsonPath": ".status.cost.monthly",
         "description": "Estimated monthly cost in USD (status.cost)."},
        {"name": "ALB", "type": "string", "jsonPath": ".status.outputs.albUrl"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": f"{ready}.message", "priority": 1},
    ]


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a plain dict, ready for YAML."""
    spec = _Converter().spec()
    spec["description"] = "The desired AWS payment platform. Omitted fields take the documented defaults."
    root = _root("An AWS payment platform (VPC, ECS Fargate services, ALB, KMS, Secrets Manager) "
                 "that the operator keeps converged through Pulumi.", spec, _status_schema())
    root["x-kubernetes-validations"] = [_name_rule(), *_immutable_rules()]
    return _crd(PLURAL, KIND, "Namespaced", "pp", _printer_columns(), root)


def _root(description: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string", "description": "Versioned schema of this object."},
            "kind": {"type": "string", "description": "REST resource this object represents."},
            "metadata": {"type": "object"},  # the API server allows nothing else here
            "spec": spec,
            "status": status,
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style, long lines kept whole (CEL rules read badly when folded), and no
    anchors: a schema node used twice is written out twice, as readers expect."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


POLICY_KIND = "PaymentPlatformPolicy"
POLICY_PLURAL = "paymentplatformpolicies"
#: Where the committed copy of the policy CRD lives, relative to the repository root.
POLICY_CRD_FILE = f"crds/{POLICY_PLURAL}.{GROUP}.yaml"
POLICY_MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model for model in (PolicySpec, LabelSelector, SelectorRequirement, PolicyRule)
}


def _policy_status_schema() -> dict[str, Any]:
    condition = _status_schema()["properties"]["conditions"]
    return {
        "type": "object",
        "description": "Whether the operator could compile the policy; written only by the operator.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "observedGeneration": {"type": "integer", "format": "int64",
                                   "description": "The metadata.generation the status describes."},
            "conditions": {**condition, "description": "Ready: True when every rule compiled (reason Accepted), "
                                                       "False with reason InvalidPolicy otherwise."},
            "rules": {"type": "integer", "description": "How many rules the policy holds."},
            "problems": {"type": "array", "items": {"type": "string"},
                         "description": "One line per problem, naming the field (e.g. a CEL syntax error)."},
        },
    }


def build_policy_crd() -> dict[str, Any]:
    """The cluster-scoped PaymentPlatformPolicy CRD, from the policy model."""
    spec = _Converter(PolicySpec, POLICY_MODELS).spec()
    ready = '.status.conditions[?(@.type=="Ready")]'
    root = _root("Organisation rules (CEL over planned resources) for the PaymentPlatforms it selects, "
                 "checked before every apply.", spec, _policy_status_schema())
    columns: list[dict[str, Any]] = [
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Rules", "type": "integer", "jsonPath": ".status.rules"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": f"{ready}.message", "priority": 1},
    ]
    return _crd(POLICY_PLURAL, POLICY_KIND, "Cluster", "ppp", columns, root)


def _crd(plural: str, kind: str, scope: str, short_name: str, columns: list[dict[str, Any]],
         root: dict[str, Any]) -> dict[str, Any]:
    """One served, stored version with a status subresource: what both CRDs share."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short_name],
                "categories": ["payplat"],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def render(kind: str = KIND) -> str:
    policy = kind == POLICY_KIND
    target = POLICY_CRD_FILE if policy else CRD_FILE
    flag = f" --kind {POLICY_KIND}" if policy else ""
    source = "operator/payplat/guardrails/orgpolicy.py" if policy else "operator/payplat/model/spec.py"
    header = f"# Generated by `payplat crd{flag}` from {source}; do not edit.\n# Regenerate: payplat crd{flag} > {target}\n"
    document = build_policy_crd() if policy else build_crd()
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=(KIND, POLICY_KIND), default=KIND,
                        help=f"which CRD to print (default {KIND})")
    parser.epilog = (f"Regenerate the committed copies with: payplat crd > {CRD_FILE}; "
                     f"payplat crd --kind {POLICY_KIND} > {POLICY_CRD_FILE}")


def command(args: argparse.Namespace) -> int:
    print(render(getattr(args, "kind", KIND)), end="")
    return 0
