"""``payplat plan``: run the platform's Pulumi program under mocks, offline.

No AWS, no Pulumi CLI, no cluster: the program from ``payplat.program`` runs in-process
against ``payplat.program.mocks``, and every registration the Pulumi runtime makes is recorded
into a ``Plan``. Users and CI check a manifest with it before applying; the offline
engine and the tests use ``plan()`` directly.

The Pulumi runtime is process-global state (settings, root stack, config), so every
plan runs on one dedicated worker thread, one at a time, in a fresh ``contextvars``
context: callers on any thread, or inside a running event loop, are safe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from payplat import API_GROUP, API_VERSION, KIND
from payplat.guardrails import OrgPolicy, PlatformRef, Review, parse_policy, review
from payplat.guardrails.render import render_review
from payplat.model.identity import stack_name
from payplat.model.limits import MAX_RESOURCE_NAME, RESOURCE_NAME
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.spec import PlatformSpec
from payplat.model.yamlinput import MAX_BYTES, YamlInputError, load_documents
from payplat.program.stackkeys import PASSWORD_CONFIG_KEY, PROJECT, SECRET_MASK

__all__ = [
    "PLACEHOLDER_PASSWORD",
    "UNKNOWN_MASK",
    "ManifestError",
    "Plan",
    "PlannedResource",
    "add_arguments",
    "command",
    "plan",
    "plan_program",
    "read_manifest",
    "read_policies",
    "render",
]

#: The database password the program sees under mocks; it must never reach any output.
PLACEHOLDER_PASSWORD = "plan-placeholder-password-0f3c9a"  # not a credential
#: How an input the mocks could not resolve shows in a plan (a bug: tests assert none).
UNKNOWN_MASK = "[unknown]"
STACK_TYPE = "pulumi:pulumi:Stack"
POLICY_KIND = "PaymentPlatformPolicy"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    id: str | None
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    depends_on: list[str]
    #: What a component passed to ``register_outputs`` (None for custom resources).
    registered_outputs: dict[str, Any] | None = None
    #: ``ignore_changes`` resource option; not part of the JSON contract.
    ignore_changes: tuple[str, ...] = ()
    #: Provider reference (``<urn>::<id>``) of a custom resource; not part of the JSON contract.
    provider: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "id": self.id,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "dependsOn": self.depends_on,
        }


@dataclass(frozen=True)
class Plan:
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        """The stable JSON contract of ``payplat plan -o json``."""
        return {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "Plan",
            "stack": self.stack,
            "resources": [resource.to_json_dict() for resource in self.resources],
            "outputs": self.outputs,
        }

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.type == type_]

    def by_urn(self, urn: str) -> PlannedResource:
        return next(resource for resource in self.resources if resource.urn == urn)

    def by_id(self, type_: str, id_: str) -> PlannedResource:
        """The resource of ``type_`` the mocks gave ``id_``: how a reference in one
        resource's inputs is followed to the resource it names."""
        return next(r for r in self.resources if r.type == type_ and r.id == id_)

    def children(self, parent: PlannedResource, type_: str | None = None) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == parent.urn and (type_ is None or r.type == type_)]


# --------------------------------------------------------------------------- running


def plan(spec: PlatformSpec, *, name: str, namespace: str = "default", stack: str | None = None) -> Plan:
    """Run ``make_program(spec, namespace=namespace, name=name)`` under mocks and return
    what it registered, as stack ``stack`` (default: the platform's own, ``identity``)."""
    from payplat.program.build import make_program

    return plan_program(make_program(spec, namespace=namespace, name=name), region=spec.region,
                        stack=stack or stack_name(namespace, name))


def plan_program(program: Callable[[], None], *, region: str, stack: str, mocks: Any = None) -> Plan:
    """Run any inline program under mocks (``PlatformMocks`` unless given) on the plan
    worker, in a fresh context, and return what it registered."""
    return _WORKER.submit(
        contextvars.Context().run, run_under_mocks, program, region=region, stack=stack, mocks=mocks
    ).result()


_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="payplat-plan")
_LOOP = threading.local()


def run_under_mocks(program: Callable[[], None], *, region: str, stack: str, mocks: Any = None) -> Plan:
    """Run ``program`` under mocks and record it. Only on the plan worker, in a fresh
    context: call ``plan_program`` instead."""
    from pulumi.runtime import config as pulumi_config
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import MockEngine
    from pulumi.runtime.stack import register_stack_transformation
    from pulumi.runtime.sync_await import _sync_await

    from payplat.program.mocks import PlatformMocks

    loop = getattr(_LOOP, "loop", None)
    if loop is None:
        loop = _LOOP.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    monitor = _RecordingMonitor(mocks if mocks is not None else PlatformMocks(region=region))
    fresh = settings.Settings(project=PROJECT, stack=stack, monitor=monitor, engine=MockEngine(None), dry_run=False)
    fresh.monitor_features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    settings.configure(fresh)
    settings.ROOT.set(None)
    pulumi_config.set_all_config({PASSWORD_CONFIG_KEY: PLACEHOLDER_PASSWORD}, [PASSWORD_CONFIG_KEY])

    def recorded_program() -> None:
        register_stack_transformation(monitor.record_options)
        program()

    try:
        _sync_await(_run_in_stack(recorded_program))
    except BaseException:
        _discard_loop(loop)
        raise
    return monitor.plan(stack)


def _discard_loop(loop: asyncio.AbstractEventLoop) -> None:
    """After a failed run, tasks of that run may still be pending: cancel them with
    their loop so the next plan starts on a clean one."""
    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    _LOOP.loop = None
    loop.close()


async def _run_in_stack(program: Callable[[], None]) -> None:
    """``pulumi.runtime.stack.run_in_stack`` for a synchronous program, with a cheaper wait.

    Pulumi's own ``wait_for_rpcs`` waits for the FIRST of all pending Outputs to finish,
    then starts over: every wave of completions re-arms a callback on every pending
    Output, which is quadratic (a 30-service plan spent a third of its time there). Here
    each round waits for ALL Outputs pending at that moment, then looks again for RPCs
    and Outputs created meanwhile, until none are left. The outcome is the same
    (everything settled, the first failure re-raised); only the bookkeeping is linear.
    """
    from pulumi.runtime import settings
    from pulumi.runtime.stack import Stack, _load_monitor_feature_support  # type: ignore[attr-defined]

    await _load_monitor_feature_support()  # type: ignore[no-untyped-call]
    stack = Stack()
    failure: BaseException | None = None
    try:
        program()
    except BaseException as error:  # noqa: BLE001 - re-raised once the runtime has settled
        failure = error
    finally:
        stack._finish()
    try:
        await _settle(settings)
    except BaseException as error:  # noqa: BLE001 - the program's own failure comes first
        failure = failure or error
    if failure is not None:
        raise failure


async def _settle(settings: Any) -> None:
    rpcs = settings._get_rpc_manager()
    while True:
        while rpcs.rpcs:
            await rpcs.rpcs.pop()
        if rpcs.unhandled_exception is not None:
            raise rpcs.unhandled_exception.with_traceback(rpcs.exception_traceback)
        with settings.SETTINGS.lock:
            pending = list(settings.SETTINGS.outputs)
            settings.SETTINGS.outputs.clear()
        if not pending:
            return
        await asyncio.wait(pending)
        for task in pending:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()


def _monitor_base() -> type:
    from pulumi.runtime.mocks import MockMonitor

    return MockMonitor


class _RecordingMonitor(_monitor_base()):  # type: ignore[misc]
    """The stock mock monitor, plus a record of what the runtime sent it: parents,
    inputs as registered (secrets still marked), ``register_outputs`` and, through a
    stack transformation, the explicit ``depends_on`` the monitor never sees."""

    def __init__(self, mocks: Any) -> None:
        super().__init__(mocks)
        self.order: list[tuple[str, str]] = []
        self.depends: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.ignore: dict[tuple[str, str], tuple[str, ...]] = {}
        self.registered: dict[str, dict[str, Any]] = {}
        self.component_outputs: dict[str, Any] = {}

    def record_options(self, args: Any) -> None:
        """A stack transformation: runs synchronously in each Resource constructor, so
        ``order`` is program order whatever order the RPCs complete in."""
        key = (args.type_, args.name)
        self.order.append(key)
        depends = args.opts.depends_on if args.opts is not None else None
        if args.opts is not None and args.opts.ignore_changes:
            self.ignore[key] = tuple(args.opts.ignore_changes)
        if depends:
            listed = depends if isinstance(depends, list | tuple) else [depends]
            self.depends[key] = [(dep._type, dep._name) for dep in listed]
        return

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.registered[response.urn] = {
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            "custom": bool(request.custom),
            "inputs": _plain(request.object),
            "id": response.id or None,
            "provider": request.provider or None,
        }
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.component_outputs[request.urn] = _plain(request.outputs)
        return super().RegisterResourceOutputs(request)

    def plan(self, stack: str) -> Plan:
        urn_of: dict[tuple[str, str], str] = {}
        for urn, record in self.registered.items():
            key = (record["type"], record["name"])
            if key in urn_of:
                raise RuntimeError(f"two resources named {key[1]!r} of type {key[0]}: names must be unique")
            urn_of[key] = urn
        position = {key: index for index, key in enumerate(self.order)}
        ordered = sorted(self.registered.items(), key=lambda item: position.get((item[1]["type"], item[1]["name"]), -1))
        resources = [
            PlannedResource(
                urn=urn,
                type=record["type"],
                name=record["name"],
                id=record["id"] if record["custom"] else None,
                parent=record["parent"],
                custom=record["custom"],
                inputs=record["inputs"],
                depends_on=[urn_of[dep] for dep in self.depends.get((record["type"], record["name"]), [])],
                registered_outputs=None if record["custom"] else self.component_outputs.get(urn),
                ignore_changes=self.ignore.get((record["type"], record["name"]), ()),
                provider=record["provider"],
            )
            for urn, record in ordered
        ]
        stack_urn = next((urn for urn, r in self.registered.items() if r["type"] == STACK_TYPE), None)
        return Plan(stack=stack, resources=resources, outputs=self.component_outputs.get(stack_urn or "", {}))


def _plain(struct: Any) -> Any:
    """A protobuf Struct as the runtime serialized it -> JSON data, secrets masked."""
    from google.protobuf import json_format
    from pulumi.runtime import rpc

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
                return SECRET_MASK
            if rpc._special_sig_key in value and value[rpc._special_sig_key] == rpc._special_resource_sig:
                return value.get("urn")
            return {key: convert(value[key]) for key in sorted(value)}
        if isinstance(value, list):
            return [convert(item) for item in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if value == rpc.UNKNOWN:
            return UNKNOWN_MASK
        return value

    return convert(json_format.MessageToDict(struct))


# --------------------------------------------------------------------------- manifests


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
OBJECT_META = frozenset({
    "name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers",
    "managedFields", "selfLink",
})


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
        raise ManifestError([f"manifest: expected exactly one {KIND} document, found {len(platforms)} (kinds: {found})"])
    return _manifest(platforms[0])


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a 5 MB value is named, not echoed."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}... ({len(text)} characters)"


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
        f"metadata.{key}" for key in sorted(str(key) for key in set(metadata) - OBJECT_META)]
    problems.extend(f"{_shown(key, 80)[1:-1]}: unknown field (kubectl apply refuses it too)" for key in unknown[:5])
    for key in ("labels", "annotations"):
        value = metadata.get(key)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            problems.append(f"metadata.{key}: must map names to strings")
    name, namespace = metadata.get("name"), metadata.get("namespace", "default")
    for field_name, value, limit in (("name", name, MAX_RESOURCE_NAME), ("namespace", namespace, MAX_RESOURCE_NAME)):
        if not isinstance(value, str) or not RESOURCE_NAME.fullmatch(value) or len(value) > limit:
            what = "required" if value is None else f"{_shown(value)} is not"
            problems.append(f"metadata.{field_name}: {what} a DNS label (lowercase letters, digits, '-', at most {limit})")
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


# --------------------------------------------------------------------------- rendering


def render(result: Plan, output: str, checked: Review | None = None) -> str:
    """The plan in ``output`` format, with the guardrails' findings and cost when given."""
    if output == "json":
        document = result.to_json_dict()
        if checked is not None:
            document.update(checked.to_json_dict())
        return json.dumps(document, indent=2) + "\n"
    text = _tree(result) if output == "tree" else _table(result)
    return text if checked is None else text + "\n" + render_review(checked)


def _summary(result: Plan) -> str:
    custom = sum(1 for r in result.resources if r.custom)
    components = sum(1 for r in result.resources if not r.custom and r.type != STACK_TYPE)
    return f"stack {result.stack}: {custom} resources in {components} components"


def _tree(result: Plan) -> str:
    children: dict[str | None, list[PlannedResource]] = {}
    for resource in result.resources:
        children.setdefault(resource.parent, []).append(resource)
    lines = [_summary(result)]

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for index, resource in enumerate(kids):
            last = index == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{resource.type}  {resource.name}")
            walk(resource.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    return "\n".join(lines) + "\n"


def _table(result: Plan) -> str:
    rows = [("TYPE", "NAME", "ID")] + [(r.type, r.name, r.id or "") for r in result.resources if r.custom]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{t:<{widths[0]}}  {n:<{widths[1]}}  {i}".rstrip() for t, n, i in rows]
    lines += ["", _summary(result), "", "OUTPUTS"]
    lines += [f"{key}: {json.dumps(value, sort_keys=True)}" for key, value in sorted(result.outputs.items())]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="PaymentPlatform manifest (YAML, as for kubectl apply); '-' reads stdin")
    parser.add_argument("-p", "--policy", action="append", default=[], metavar="FILE",
                        help="PaymentPlatformPolicy YAML to check the plan against as well (repeatable)")
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "tree", "json"),
        default=None,
        help="table (default when stdout is not a terminal), tree (default on a terminal) or json (stable, for CI)",
    )


#: ``payplat plan`` exit codes, documented for CI (README "Guardrails").
EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_BLOCKED = 0, 1, 2, 3


def command(args: argparse.Namespace) -> int:
    """Exit 0 with the plan, findings and cost on stdout; 3 when an unwaived critical
    finding would block the apply (the plan is still printed, the blocking rules on
    stderr); 2 for a bad manifest or policy file (messages on stderr, nothing on
    stdout); 1 if the program itself fails under mocks."""
    try:
        text = _read_stdin() if args.file == "-" else _read(args.file)
        manifest = read_manifest(text)
        policies = [policy for path in getattr(args, "policy", []) for policy in read_policies(_read(path), path)]
    except ManifestError as error:
        _errors(error.problems)
        return EXIT_INVALID
    except (RecursionError, MemoryError) as error:  # a last line of defence: never a traceback
        _errors([f"manifest: too large or too deeply nested to read ({type(error).__name__})"])
        return EXIT_INVALID
    output = args.output or ("tree" if sys.stdout.isatty() else "table")
    try:
        result = plan(manifest.spec, name=manifest.name, stack=manifest.stack, namespace=manifest.namespace)
    except Exception as error:  # noqa: BLE001 - reported as one line, never a traceback
        _errors([f"plan failed: {type(error).__name__}: {error}"])
        return EXIT_FAILED
    platform = PlatformRef(name=manifest.name, namespace=manifest.namespace, labels=manifest.labels,
                           region=manifest.spec.region)
    checked = review(result.resources, manifest.spec, platform, annotations=manifest.annotations, policies=policies)
    sys.stdout.write(render(result, output, checked))
    if checked.blocking:
        _errors([f"blocked by {f.severity.value} rule {f.rule}: {f.resource} ({f.field}): {f.message}"
                 for f in checked.blocking])
        return EXIT_BLOCKED
    return EXIT_OK


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(MAX_BYTES + 1)  # one byte more than allowed is enough to refuse it
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise ManifestError([f"{_shown(path, 200)}: cannot read: {reason}"]) from None


def _read_stdin() -> str:
    try:
        return sys.stdin.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError([f"stdin: cannot read: {type(error).__name__}"]) from None


#: At most this many problems, each at most MAX_LINE characters: stderr stays readable.
MAX_PROBLEMS = 20
MAX_LINE = 400


def _errors(problems: Iterable[str]) -> None:
    listed = list(problems)
    for problem in listed[:MAX_PROBLEMS]:
        line = " ".join(problem.split())
        if len(line) > MAX_LINE:
            line = line[: MAX_LINE - 3] + "..."
        print(f"error: {line}", file=sys.stderr)
    if len(listed) > MAX_PROBLEMS:
        print(f"error: ... and {len(listed) - MAX_PROBLEMS} more problems", file=sys.stderr)
