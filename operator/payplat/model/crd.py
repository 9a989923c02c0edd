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
from typing import Any

import yaml
from pydantic import BaseModel

from payplat.guardrails.orgpolicy import LabelSelector, PolicyRule, PolicySpec, SelectorRequirement
from payplat.model.crdrules import _immutable_rules, _name_rule
from payplat.model.crdschema import _Converter
from payplat.model.crdstatus import _policy_status_schema, _status_schema

__all__ = [
    "CRD_FILE",
    "GROUP",
    "KIND",
    "PLURAL",
    "POLICY_CRD_FILE",
    "POLICY_KIND",
    "POLICY_PLURAL",
    "VERSION",
    "add_arguments",
    "build_crd",
    "build_policy_crd",
    "command",
    "render",
]

GROUP = "payplat.io"
VERSION = "v1alpha1"
KIND = "PaymentPlatform"
PLURAL = "paymentplatforms"
#: Where the committed copy lives, relative to the repository root.
CRD_FILE = f"crds/{PLURAL}.{GROUP}.yaml"


# --------------------------------------------------------------------------- CEL helpers


# --------------------------------------------------------------------------- per-field formats


# --------------------------------------------------------------------------- cross-field rules


# --------------------------------------------------------------------------- schema conversion


# --------------------------------------------------------------------------- status


# --------------------------------------------------------------------------- the CRD


def _printer_columns() -> list[dict[str, Any]]:
    """Ready/Phase/ALB/Age for everyone; the long message only with ``-o wide``."""
    ready = '.status.conditions[?(@.type=="Ready")]'
    return [
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {
            "name": "Cost/mo",
            "type": "string",
            "jsonPath": ".status.cost.monthly",
            "description": "Estimated monthly cost in USD (status.cost).",
        },
        {"name": "ALB", "type": "string", "jsonPath": ".status.outputs.albUrl"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": f"{ready}.message", "priority": 1},
    ]


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a plain dict, ready for YAML."""
    spec = _Converter().spec()
    spec["description"] = "The desired AWS payment platform. Omitted fields take the documented defaults."
    root = _root(
        "An AWS payment platform (VPC, ECS Fargate services, ALB, KMS, Secrets Manager) "
        "that the operator keeps converged through Pulumi.",
        spec,
        _status_schema(),
    )
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


def build_policy_crd() -> dict[str, Any]:
    """The cluster-scoped PaymentPlatformPolicy CRD, from the policy model."""
    spec = _Converter(PolicySpec, POLICY_MODELS).spec()
    ready = '.status.conditions[?(@.type=="Ready")]'
    root = _root(
        "Organisation rules (CEL over planned resources) for the PaymentPlatforms it selects, "
        "checked before every apply.",
        spec,
        _policy_status_schema(),
    )
    columns: list[dict[str, Any]] = [
        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
        {"name": "Rules", "type": "integer", "jsonPath": ".status.rules"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Message", "type": "string", "jsonPath": f"{ready}.message", "priority": 1},
    ]
    return _crd(POLICY_PLURAL, POLICY_KIND, "Cluster", "ppp", columns, root)


def _crd(
    plural: str, kind: str, scope: str, short_name: str, columns: list[dict[str, Any]], root: dict[str, Any]
) -> dict[str, Any]:
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
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render(kind: str = KIND) -> str:
    policy = kind == POLICY_KIND
    target = POLICY_CRD_FILE if policy else CRD_FILE
    flag = f" --kind {POLICY_KIND}" if policy else ""
    source = "operator/payplat/guardrails/orgpolicy.py" if policy else "operator/payplat/model/spec.py"
    header = (
        f"# Generated by `payplat crd{flag}` from {source}; do not edit.\n# Regenerate: payplat crd{flag} > {target}\n"
    )
    document = build_policy_crd() if policy else build_crd()
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind", choices=(KIND, POLICY_KIND), default=KIND, help=f"which CRD to print (default {KIND})"
    )
    parser.epilog = (
        f"Regenerate the committed copies with: payplat crd > {CRD_FILE}; "
        f"payplat crd --kind {POLICY_KIND} > {POLICY_CRD_FILE}"
    )


def command(args: argparse.Namespace) -> int:
    print(render(getattr(args, "kind", KIND)), end="")
    return 0
