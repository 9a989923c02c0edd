"""The few Kubernetes API calls the operator makes itself (kopf makes the rest).

All use the synchronous ``kubernetes`` client inside ``asyncio.to_thread`` so the event
loop never blocks. Configuration comes from the pod's service account in-cluster, else
from KUBECONFIG / ~/.kube/config, the same sources kopf uses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import socket
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from payplat import API_GROUP, API_VERSION, PLURAL
from payplat.engines.base import TransientEngineError
from payplat.redaction import KNOWN_SECRETS
from payplat.settings import in_cluster, own_namespace

__all__ = ["api_client", "holder_probe", "publish_status", "read_secret"]


@functools.cache
def api_client() -> client.ApiClient:
    if in_cluster():
        config.load_incluster_config()
    else:
        config.load_kube_config()
    return client.ApiClient()


async def read_secret(namespace: str, name: str, key: str) -> str:
    """One key of a Secret. A missing Secret or key is transient: it may be created next."""
    try:
        secret = await asyncio.to_thread(client.CoreV1Api(api_client()).read_namespaced_secret, name, namespace)
    except ApiException as error:
        if error.status == 404:
            raise TransientEngineError(
                f"Secret {namespace}/{name} (spec.database.passwordSecretRef) does not exist; create it "
                f"with a '{key}' key", reason="SecretNotFound") from None
        if error.status == 403:
            raise TransientEngineError(
                f"the operator may not read Secret {namespace}/{name}: grant it 'get' on secrets in {namespace}",
                reason="SecretForbidden") from None
        raise TransientEngineError(f"reading Secret {namespace}/{name} failed: HTTP {error.status}",
                                   reason="SecretUnavailable") from None
    data = secret.data or {}
    if key not in data:
        present = ", ".join(sorted(data)) or "none"
        raise TransientEngineError(
            f"Secret {namespace}/{name} has no key '{key}' (keys present: {present}); fix the Secret or "
            "spec.database.passwordSecretRef.key", reason="SecretKeyNotFound")
    try:
        value = base64.b64decode(data[key]).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TransientEngineError(f"Secret {namespace}/{name} key '{key}' is not UTF-8 text",
                                   reason="SecretInvalid") from None
    KNOWN_SECRETS.add(value)
    return value


async def publish_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write status at once (kopf only patches when a handler returns): an ``up`` that
    takes twenty minutes shows Reconciling for those twenty minutes."""
    api = client.CustomObjectsApi(api_client())
    await asyncio.to_thread(api.patch_namespaced_custom_object_status,
                            API_GROUP, API_VERSION, namespace, PLURAL, name, {"status": status})


def holder_probe(host: str, pid: int) -> bool | None:
    """Does the pod that holds a stack lock still exist? None when we cannot tell.

    In-cluster a lock's hostname is the holder's pod name: a pod that no longer exists, or
    has terminated, cannot be running an operation. Locks from this host are judged by the
    engine from /proc (pid and start time), so they are "unknown" here. ``pid`` is unused:
    another pod's process table is not visible from this one.
    """
    namespace = own_namespace()
    if host == socket.gethostname() or not in_cluster() or namespace is None:
        return None
    try:
        pod = client.CoreV1Api(api_client()).read_namespaced_pod(host, namespace)
    except ApiException as error:
        return False if error.status == 404 else None
    return (pod.status.phase if pod.status else None) not in ("Succeeded", "Failed")
