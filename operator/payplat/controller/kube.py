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
import json
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from payplat import API_GROUP, API_VERSION, PLURAL
from payplat.controller.claims import after_claim, after_release
from payplat.controller.redaction import KNOWN_SECRETS
from payplat.controller.settings import in_cluster
from payplat.engines.base import TransientEngineError
from payplat.engines.locks import Identity
from payplat.model.tenancy import AllowList, password_problem, secret_refusal

__all__ = [
    "REQUEST_TIMEOUT",
    "ConfigMapClaims",
    "ConfigMapPlans",
    "annotate_platform",
    "api_client",
    "pod_gone",
    "publish_policy_status",
    "publish_status",
    "read_allowlist",
    "read_platform",
    "read_secret",
]

#: (connect, read) seconds: no API call of the operator's own may hang for ever.
REQUEST_TIMEOUT = (5.0, 20.0)
POLICY_PLURAL = "paymentplatformpolicies"


@functools.cache
def api_client() -> client.ApiClient:
    if in_cluster():
        config.load_incluster_config()
    else:
        config.load_kube_config()
    return client.ApiClient()


#: Ask for a Secret's metadata only: its value is fetched once consent is established.
_METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


async def read_secret(namespace: str, platform: str, name: str, key: str) -> str:
    """One key of a Secret that consents to ``namespace/platform`` reading it.

    The consent annotation is checked on the Secret's metadata alone, so the value of a
    Secret without consent never reaches this process. Every refusal is transient: fixing
    the Secret (creating it, annotating it, adding the key) is the fix, and it needs no
    change of the PaymentPlatform.
    """
    metadata = await asyncio.to_thread(_secret_metadata, namespace, name, key)
    refusal = secret_refusal(namespace, platform, name, metadata.get("annotations"))
    if refusal:
        raise TransientEngineError(refusal, reason="SecretConsentMissing")
    try:
        secret = await asyncio.to_thread(
            client.CoreV1Api(api_client()).read_namespaced_secret, name, namespace, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as error:
        raise _secret_error(error, namespace, name, key) from None
    data = secret.data or {}
    if key not in data:
        present = ", ".join(sorted(data)) or "none"
        raise TransientEngineError(
            f"Secret {namespace}/{name} has no key '{key}' (keys present: {present}); fix the Secret or "
            "spec.database.passwordSecretRef.key",
            reason="SecretKeyNotFound",
        )
    try:
        value = base64.b64decode(data[key]).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TransientEngineError(
            f"Secret {namespace}/{name} key '{key}' is not UTF-8 text", reason="SecretInvalid"
        ) from None
    problem = password_problem(namespace, name, key, value)
    if problem:
        raise TransientEngineError(problem, reason="SecretInvalid")
    KNOWN_SECRETS.add(value)  # the log filter only; status and events scrub per platform
    return value


def _secret_metadata(namespace: str, name: str, key: str) -> dict[str, Any]:
    api = api_client()
    try:
        response = api.call_api(
            "/api/v1/namespaces/{namespace}/secrets/{name}",
            "GET",
            {"namespace": namespace, "name": name},
            header_params={"Accept": _METADATA_ONLY},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
    except ApiException as error:
        raise _secret_error(error, namespace, name, key) from None
    return dict(json.loads(response.data).get("metadata") or {})


def _secret_error(error: ApiException, namespace: str, name: str, key: str) -> TransientEngineError:
    if error.status == 404:
        return TransientEngineError(
            f"Secret {namespace}/{name} (spec.database.passwordSecretRef) does not exist; create it with a '{key}' key",
            reason="SecretNotFound",
        )
    if error.status == 403:
        return TransientEngineError(
            f"the operator may not read Secret {namespace}/{name}: grant it 'get' on secrets in {namespace}",
            reason="SecretForbidden",
        )
    return TransientEngineError(
        f"reading Secret {namespace}/{name} failed: HTTP {error.status}", reason="SecretUnavailable"
    )


async def read_allowlist(namespace: str, name: str) -> AllowList:
    """The assume-role allow-list ConfigMap; a missing one allows nothing."""
    try:
        configmap = await asyncio.to_thread(client.CoreV1Api(api_client()).read_namespaced_config_map, name, namespace)
    except ApiException as error:
        if error.status == 404:
            return AllowList.from_data({})
        raise TransientEngineError(
            f"reading the assume-role allow-list ConfigMap {namespace}/{name} failed: HTTP {error.status}",
            reason="AllowListUnavailable",
        ) from None
    return AllowList.from_data(configmap.data)


class ConfigMapClaims:
    """``claims.Claims`` in a ConfigMap of the operator's namespace, written with a
    compare-and-swap on its resourceVersion (see ``payplat.controller.claims`` for why there)."""

    def __init__(self, namespace: str, name: str, attempts: int = 10) -> None:
        self.namespace, self.name, self.attempts = namespace, name, attempts

    async def claim(self, key: str, owner: str) -> None:
        await asyncio.to_thread(self._update, lambda data: after_claim(data, key, owner))

    async def release(self, owner: str, keep: frozenset[str] = frozenset()) -> None:
        await asyncio.to_thread(self._update, lambda data: after_release(data, owner, keep))

    def _update(self, change: Callable[[dict[str, str]], dict[str, str] | None]) -> None:
        api = client.CoreV1Api(api_client())
        for _ in range(self.attempts):
            try:
                current = api.read_namespaced_config_map(self.name, self.namespace)
            except ApiException as error:
                if error.status != 404:
                    raise self._error(error) from None
                current = None
            data = dict((current.data if current else None) or {})
            wanted = change(data)  # SuffixInUse propagates
            if wanted is None:
                return
            body = client.V1ConfigMap(
                metadata=client.V1ObjectMeta(
                    name=self.name,
                    namespace=self.namespace,
                    resource_version=current.metadata.resource_version if current else None,
                    labels={"app.kubernetes.io/part-of": "payplat", "app.kubernetes.io/component": "claims"},
                ),
                data=wanted,
            )
            try:
                if current is None:
                    api.create_namespaced_config_map(self.namespace, body)
                else:
                    api.replace_namespaced_config_map(self.name, self.namespace, body)
                return
            except ApiException as error:
                if error.status != 409:  # 409: someone wrote in between; read again
                    raise self._error(error) from None
        raise TransientEngineError(
            f"the claims ConfigMap {self.namespace}/{self.name} kept changing; retrying later", reason="ClaimsBusy"
        )

    def _error(self, error: ApiException) -> TransientEngineError:
        return TransientEngineError(
            f"the claims ConfigMap {self.namespace}/{self.name}: HTTP {error.status}", reason="ClaimsUnavailable"
        )


class ConfigMapPlans:
    """``operations.PlanStore`` on the API server: create, and delete with a UID
    precondition, so only the very object the operator created can ever be deleted."""

    async def create(self, namespace: str, body: dict[str, Any]) -> str:
        api = client.CoreV1Api(api_client())
        try:
            created = await asyncio.to_thread(
                api.create_namespaced_config_map, namespace, body, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if error.status != 409:
                raise
            # Most likely ours from an attempt whose status write was lost; not read (no
            # 'get' on tenants' ConfigMaps), so no UID: it is never deleted, only GC'd.
            return ""
        return str(created.metadata.uid)

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        if not uid:
            return
        api = client.CoreV1Api(api_client())
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            await asyncio.to_thread(
                api.delete_namespaced_config_map, name, namespace, body=options, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if error.status not in (404, 409):  # gone, or another object now has the name: not ours
                raise


async def publish_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write status at once (kopf only patches when a handler returns): an ``up`` that
    takes twenty minutes shows Reconciling for those twenty minutes."""
    api = client.CustomObjectsApi(api_client())
    await asyncio.to_thread(
        api.patch_namespaced_custom_object_status,
        API_GROUP,
        API_VERSION,
        namespace,
        PLURAL,
        name,
        {"status": status},
        _request_timeout=REQUEST_TIMEOUT,
    )


async def annotate_platform(namespace: str, name: str, annotations: dict[str, str], field_manager: str) -> None:
    """Merge-patch annotations onto a PaymentPlatform as ``field_manager`` (``payplat
    approve``: the API server records that name as the approver in managedFields)."""
    api = client.CustomObjectsApi(api_client())
    await asyncio.to_thread(
        api.patch_namespaced_custom_object,
        API_GROUP,
        API_VERSION,
        namespace,
        PLURAL,
        name,
        {"metadata": {"annotations": annotations}},
        field_manager=field_manager,
        _request_timeout=REQUEST_TIMEOUT,
    )


async def publish_policy_status(name: str, status: dict[str, Any]) -> None:
    """Merge-patch a PaymentPlatformPolicy's status (cluster-scoped)."""
    api = client.CustomObjectsApi(api_client())
    await asyncio.to_thread(
        api.patch_cluster_custom_object_status,
        API_GROUP,
        API_VERSION,
        POLICY_PLURAL,
        name,
        {"status": status},
        _request_timeout=REQUEST_TIMEOUT,
    )


def pod_gone(owner: Identity) -> bool | None:
    """Has the operator pod an operation record names ended? None when we cannot tell.

    Gone means: no pod of that name in its namespace, a pod of that name with another UID
    (a new pod reusing the name), or a pod that has terminated. ``engines.locks.judge``
    asks only about records of this cluster (the record's ``cluster`` is our Lease's UID),
    so a 404 here never speaks for a pod of another cluster sharing the backend.
    """
    if not (owner.pod_name and owner.pod_namespace and owner.pod_uid):
        return None
    try:
        pod = client.CoreV1Api(api_client()).read_namespaced_pod(
            owner.pod_name, owner.pod_namespace, _request_timeout=REQUEST_TIMEOUT
        )
    except ApiException as error:
        return True if error.status == 404 else None
    except Exception:  # noqa: BLE001 - network trouble: unknown, so the lock counts as alive
        return None
    if pod.metadata is None or pod.metadata.uid != owner.pod_uid:
        return True
    return (pod.status.phase if pod.status else None) in ("Succeeded", "Failed")


async def read_platform(namespace: str, name: str) -> dict[str, Any] | None:
    """The PaymentPlatform as the API server has it now; None once it is gone."""
    api = client.CustomObjectsApi(api_client())
    try:
        obj = await asyncio.to_thread(
            api.get_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            namespace,
            PLURAL,
            name,
            _request_timeout=REQUEST_TIMEOUT,
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(obj)
