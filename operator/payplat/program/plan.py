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

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from payplat import API_GROUP, API_VERSION
from payplat.model.identity import stack_name
from payplat.model.spec import PlatformSpec
from payplat.program.stackkeys import PASSWORD_CONFIG_KEY, PROJECT, SECRET_MASK

__all__ = [
    "PLACEHOLDER_PASSWORD",
    "UNKNOWN_MASK",
    "Plan",
    "PlannedResource",
    "plan",
    "plan_program",
]

#: The database password the program sees under mocks; it must never reach any output.
PLACEHOLDER_PASSWORD = "plan-placeholder-password-0f3c9a"  # not a credential
#: How an input the mocks could not resolve shows in a plan (a bug: tests assert none).
UNKNOWN_MASK = "[unknown]"
STACK_TYPE = "pulumi:pulumi:Stack"


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

    return plan_program(
        make_program(spec, namespace=namespace, name=name),
        region=spec.region,
        stack=stack or stack_name(namespace, name),
    )


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
