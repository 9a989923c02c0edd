"""Reading payplat plan's input: a PaymentPlatform manifest (the object's shape checked
the way the API server would, then the spec) and PaymentPlatformPolicy documents. Every
problem names its field; nothing here runs the program.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from payplat import API_GROUP, API_VERSION, KIND
from payplat.guardrails import OrgPolicy, parse_policy
from payplat.model.identity import stack_name
from payplat.model.limits import MAX_RESOURCE_NAME, RESOURCE_NAME
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.spec import PlatformSpec
from payplat.model.yamlinput import YamlInputError, load_documents

POLICY_KIND = "PaymentPlatformPolicy"


class ManifestError(ValueError):
    """A manifest that cannot be planned, one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Manifest:
    name: str
    namespace: str
    spec: PlatformSpec
    labels: dict[str, str] = field(default_factory=dict)
    #: Annotations (waivers: ``payplat.io/waive-<rule>``).
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def stack(self) -> str:
        return stack_name(self.namespace, self.name)


#: What a Kubernetes object may hold at the top and in metadata (ObjectMeta), as the API
#: server's strict field validation (kubectl apply's default) allows.
TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


OBJECT_META = frozenset(
    {
        "name",
        "namespace",
        "labels",
        "annotations",
        "generateName",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "finalizers",
        "managedFields",
        "selfLink",
    }
)


def read_manifest(text: str) -> Manifest:
    """The one PaymentPlatform in a YAML stream (other kinds, e.g. a Secret, are skipped).
    The stream is read with bounded work (``yamlinput``); nothing it holds is echoed whole."""
    try:
        documents = load_documents(text)
    except YamlInputError as error:
        raise ManifestError([f"manifest: {error}"]) from None
    if any(not isinstance(doc, dict) for doc in documents):
        raise ManifestError(["manifest: every YAML document must be an object (apiVersion, kind, metadata, spec)"])
    platforms = [doc for doc in documents if doc.get("kind") == KIND]
    if len(platforms) != 1:
        kinds = [_shown(doc.get("kind"), 40) for doc in documents[:10]]
        found = ", ".join(kinds) + (f" and {len(documents) - 10} more" if len(documents) > 10 else "") or "nothing"
        raise ManifestError(
            [f"manifest: expected exactly one {KIND} document, found {len(platforms)} (kinds: {found})"]
        )
    return _manifest(platforms[0])


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a 5 MB value is named, not echoed."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"


def _manifest(document: dict[str, Any]) -> Manifest:
    problems: list[str] = []
    expected = f"{API_GROUP}/{API_VERSION}"
    if document.get("apiVersion") != expected:
        problems.append(f"apiVersion: {_shown(document.get('apiVersion'))} is not supported (allowed: {expected})")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        problems.append("metadata: required (an object with at least a name)")
    unknown = sorted(str(key) for key in set(document) - TOP_LEVEL) + [
        f"metadata.{key}" for key in sorted(str(key) for key in set(metadata) - OBJECT_META)
    ]
    problems.extend(f"{_shown(key, 80)[1:-1]}: unknown field (kubectl apply refuses it too)" for key in unknown[:5])
    for key in ("labels", "annotations"):
        value = metadata.get(key)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            problems.append(f"metadata.{key}: must map names to strings")
    name, namespace = metadata.get("name"), metadata.get("namespace", "default")
    for field_name, value, limit in (("name", name, MAX_RESOURCE_NAME), ("namespace", namespace, MAX_RESOURCE_NAME)):
        if not isinstance(value, str) or not RESOURCE_NAME.fullmatch(value) or len(value) > limit:
            what = "required" if value is None else f"{_shown(value)} is not"
            problems.append(
                f"metadata.{field_name}: {what} a DNS label (lowercase letters, digits, '-', at most {limit})"
            )
    spec: PlatformSpec | None = None
    try:
        spec = parse_spec(document.get("spec"), name=name if isinstance(name, str) else "platform")
    except SpecError as error:
        problems.extend(error.problems)
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    for field_name, value in (("labels", labels), ("annotations", annotations)):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(f"metadata.{field_name}: must map names to strings")
    if problems or spec is None or not isinstance(name, str):  # a bad name is among the problems
        raise ManifestError(problems)
    return Manifest(name=name, namespace=namespace, spec=spec, labels=dict(labels), annotations=dict(annotations))


def read_policies(text: str, source: str) -> list[OrgPolicy]:
    """Every PaymentPlatformPolicy in a YAML stream; one whose rules do not compile is
    refused here (``payplat plan`` is where a policy author finds out first)."""
    import yaml

    try:
        documents = [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    except yaml.YAMLError as error:
        raise ManifestError([f"{source}: not valid YAML: {' '.join(str(error).split())}"]) from None
    policies = [parse_policy(doc) for doc in documents if doc.get("kind") == POLICY_KIND]
    problems = [f"{source}: PaymentPlatformPolicy {p.name}: {problem}" for p in policies for problem in p.problems]
    if not policies:
        problems.append(f"{source}: no {POLICY_KIND} document found")
    if problems:
        raise ManifestError(problems)
    return policies
