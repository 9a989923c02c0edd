"""The spec model's JSON schema converted to a structural OpenAPI schema the API server accepts
(no $ref, no anyOf for optionals), with the CEL rules and formats attached per field.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from pydantic import BaseModel

from payplat.model.crdrules import OBJECT_RULES, _alias, _field_formats, _field_rules
from payplat.model.parts import (
    AccessLogsSpec,
    BudgetSpec,
    ChangeControlSpec,
    DatabaseSpec,
    DriftDetectionSpec,
    LoadBalancerSpec,
    LogsSpec,
    NetworkSpec,
    PasswordRef,
    ScalingSpec,
    SecretRef,
)
from payplat.model.spec import PlatformSpec, ServiceSpec

#: Every model the spec schema is made of, by the name pydantic gives its ``$defs`` entry.
MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        PlatformSpec,
        NetworkSpec,
        ServiceSpec,
        ScalingSpec,
        SecretRef,
        DatabaseSpec,
        PasswordRef,
        LoadBalancerSpec,
        AccessLogsSpec,
        LogsSpec,
        DriftDetectionSpec,
        BudgetSpec,
        ChangeControlSpec,
    )
}


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
        for key in (
            "enum",
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "pattern",
        ):
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
