"""The stand-in ``pulumi-resource-aws`` plugin: the provider gRPC protocol over ``StandinCloud``.

The Pulumi CLI starts it (``hack/aws-standin/pulumi-resource-aws`` on PATH, an "ambient"
plugin) and reads the port it prints. It answers like ``payplat.program.mocks`` and behaves like a
provider where the engine's behaviour depends on it:

* ``Check`` passes inputs through; ``Diff`` compares them with the old inputs and asks for
  a replacement when a force-new field changed (``payplat.engines.forcenew``, mirroring pulumi-aws:
  a task definition is immutable, a target group's port, a log group's name...);
* ``Configure`` answers ``supportsPreview``, so a preview gets ``Create``/``Update`` with
  ``preview=True``: computed outputs (ids, ARNs, DNS names) come back *unknown*, as from AWS;
* ``acceptSecrets=False``: the engine strips secrets before sending and marks the outputs
  of secret inputs secret again, so secrets stay encrypted in the state;
* ``Read`` (refresh) answers what the cloud folder holds now: a test's ``drift()`` shows up,
  a resource deleted out of band reads as gone;
* faults and slow steps on demand from the resource's tags (``cloud.fault_for``,
  ``cloud.slow_for``); ``Cancel`` (the CLI got SIGINT) cuts slow steps short, but the step
  still completes, as an AWS call already sent would;
* ``Invoke`` answers the data sources the program calls through ``PlatformMocks.call``.

It dies with the CLI that started it (``PR_SET_PDEATHSIG``): the real plugin would linger
as an orphan after a SIGKILL of the CLI, which proves nothing and leaks processes in tests.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
from concurrent import futures
from typing import Any, cast

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from payplat.engines.forcenew import FORCE_NEW, replace_keys
from payplat.program.mocks import PlatformMocks
from payplat_dev.standin.cloud import SLOW_ENV, StandinCloud, aws_error_text, fault_for, slow_for, stack_of

__all__ = ["FORCE_NEW", "VERSION", "StandinProvider", "diff", "main"]

VERSION = "7.51.1"
#: Pulumi's marker for a value not known yet (``pulumi.runtime.rpc.UNKNOWN``).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: No real AWS account has this id (the offline engine uses it too).
ACCOUNT = "000000000000"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

#: The AWS API action behind creating each type, for realistic error texts.
_ACTIONS = {
    "LogGroup": "CloudWatch Logs:CreateLogGroup",
    "Cluster": "ECS:CreateCluster",
    "Service": "ECS:CreateService",
    "TaskDefinition": "ECS:RegisterTaskDefinition",
    "Role": "IAM:CreateRole",
    "Key": "KMS:CreateKey",
    "Secret": "Secrets Manager:CreateSecret",
    "LoadBalancer": "Elastic Load Balancing v2:CreateLoadBalancer",
    "TargetGroup": "Elastic Load Balancing v2:CreateTargetGroup",
    "Vpc": "EC2:CreateVpc",
    "Subnet": "EC2:CreateSubnet",
}


def diff(
    type_: str, old_inputs: dict[str, Any], news: dict[str, Any], ignore: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """(changed keys, keys forcing a replacement) between old and new inputs."""
    keys = (set(old_inputs) | set(news)) - ignore - {"__defaults"}
    changed = sorted(
        k for k in keys if _canonical(old_inputs.get(k)) != _canonical(news.get(k)) or _has_unknown(news.get(k))
    )
    return changed, replace_keys(type_, changed)


class StandinProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, cloud: StandinCloud) -> None:
        self.cloud = cloud
        self.mocks = PlatformMocks(account_id=ACCOUNT)
        self.cancelled = threading.Event()

    # ------------------------------------------------------------------ plugin

    def Handshake(self, request: Any, context: Any) -> Any:
        return provider_pb2.ProviderHandshakeResponse(
            accept_secrets=False, accept_resources=False, accept_outputs=False
        )

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    def Attach(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def Cancel(self, request: Any, context: Any) -> Any:
        self.cancelled.set()
        return empty_pb2.Empty()

    def CheckConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: Any, context: Any) -> Any:
        changed, _ = diff("pulumi:providers:aws", _dict(request.old_inputs) or _dict(request.olds), _dict(request.news))
        return provider_pb2.DiffResponse(changes=_changes(changed), diffs=changed)

    def Configure(self, request: Any, context: Any) -> Any:
        args = _dict(request.args)
        region = args.get("region") or dict(request.variables).get("aws:config:region") or "us-east-1"
        self.mocks = PlatformMocks(region=str(region), account_id=ACCOUNT)
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True, acceptResources=False)

    # ------------------------------------------------------------------ resources

    def Check(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request: Any, context: Any) -> Any:
        old_inputs = _dict(request.old_inputs) or _dict(request.olds)
        changed, replaces = diff(
            request.type or _type_of(request.urn), old_inputs, _dict(request.news), frozenset(request.ignoreChanges)
        )
        return provider_pb2.DiffResponse(changes=_changes(changed), diffs=changed, replaces=replaces)

    def Create(self, request: Any, context: Any) -> Any:
        type_, name = request.type or _type_of(request.urn), request.name or _name_of(request.urn)
        inputs = _dict(request.properties)
        resource_id, outputs = self._answer(type_, name, inputs)
        if request.preview:
            unknown = {k: UNKNOWN for k in outputs if k not in inputs}
            return provider_pb2.CreateResponse(id="", properties=_struct({**outputs, **unknown, **inputs}))
        self._act("create", request.urn, type_, name, inputs, context)
        if type_ == TASK_DEFINITION:  # each registration is a new revision, as in ECS
            revision = 1 + self.cloud.creates_by_urn(stack_of(request.urn))[request.urn]
            outputs = {**outputs, "revision": revision, "arn": f"{outputs['arnWithoutRevision']}:{revision}"}
        resource_id = self.cloud.unique_id(stack_of(request.urn), resource_id)
        self.cloud.put("create", request.urn, type_, resource_id, inputs, outputs)
        return provider_pb2.CreateResponse(id=resource_id, properties=_struct({**outputs, "id": resource_id}))

    def Update(self, request: Any, context: Any) -> Any:
        type_, name = request.type or _type_of(request.urn), request.name or _name_of(request.urn)
        news = _dict(request.news)
        _, outputs = self._answer(type_, name, news)
        outputs = {**_dict(request.olds), **outputs, "id": request.id}
        if request.preview:
            return provider_pb2.UpdateResponse(properties=_struct(outputs))
        self._act("update", request.urn, type_, name, news, context)
        self.cloud.put("update", request.urn, type_, request.id, news, outputs)
        return provider_pb2.UpdateResponse(properties=_struct(outputs))

    def Delete(self, request: Any, context: Any) -> Any:
        type_, name = request.type or _type_of(request.urn), request.name or _name_of(request.urn)
        self._act("delete", request.urn, type_, name, _dict(request.properties), context)
        self.cloud.remove(request.urn, type_, request.id)
        return empty_pb2.Empty()

    def Read(self, request: Any, context: Any) -> Any:
        current = self.cloud.get(stack_of(request.urn), request.id)
        if current is None:
            return provider_pb2.ReadResponse(id="")  # deleted behind Pulumi's back
        return provider_pb2.ReadResponse(
            id=request.id,
            properties=_struct({**current["outputs"], "id": request.id}),
            inputs=_struct(current["inputs"]),
        )

    def Invoke(self, request: Any, context: Any) -> Any:
        try:
            result, _ = self.mocks.call(MockCallArgs(request.tok, _dict(request.args), ""))
        except NotImplementedError as error:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, str(error))
        # "return" is a Python keyword: the field goes in through a dict.
        return provider_pb2.InvokeResponse(**cast("dict[str, Any]", {"return": _struct(result)}))

    # ------------------------------------------------------------------ helpers

    def _answer(self, type_: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        resource_id, outputs = self.mocks.new_resource(MockResourceArgs(type_, name, dict(inputs), custom=True))
        return str(resource_id or name), _plain(outputs)

    def _act(self, action: str, urn: str, type_: str, name: str, inputs: dict[str, Any], context: Any) -> None:
        """What happens before the AWS call: announce, wait if asked to be slow, fail if asked to."""
        self.cloud.begin(action, urn)
        delay = slow_for(inputs, type_, os.environ.get(SLOW_ENV))
        if delay:
            self.cancelled.wait(delay)  # SIGINT to the CLI cuts the wait short, not the step
        fault = fault_for(inputs, type_, action, self.cloud.account_faults())
        if fault is not None:
            attempt = self.cloud.next_attempt(stack_of(urn), f"{urn}|{fault.code}|{fault.times}")
            if fault.times is None or attempt <= fault.times:
                short = type_.rsplit(":", 1)[-1]
                action_name = _ACTIONS.get(short, f"AWS:{action.capitalize()}{short}")
                text = aws_error_text(fault.code, action=action_name, type_=type_, name=name)
                context.abort(
                    grpc.StatusCode.UNKNOWN,
                    text.replace(
                        "creating", {"create": "creating", "update": "updating", "delete": "deleting"}[action], 1
                    ),
                )


def _dict(struct: Any) -> dict[str, Any]:
    return json_format.MessageToDict(struct) if struct is not None and struct.ByteSize() else {}


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(_plain(value))
    return out


def _plain(value: Any) -> Any:
    """JSON-shaped (Struct accepts nothing else): tuples to lists, unknown objects to str."""
    return json.loads(json.dumps(value, default=str))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _has_unknown(value: Any) -> bool:
    return UNKNOWN in _canonical(value)


def _changes(changed: list[str]) -> Any:
    return provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE


def _type_of(urn: str) -> str:
    return urn.split("::")[2].rsplit("$", 1)[-1]


def _name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve on a free loopback port and print it, as every Pulumi plugin does."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the CLI's ^C is for the CLI; it calls Cancel
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32), options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(StandinProvider(StandinCloud.from_env()), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
