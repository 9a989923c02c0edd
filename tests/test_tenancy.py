"""Tenancy through the handlers: a platform is refused, before any engine call, a role its
namespace may not assume and an environment suffix another platform holds; claims go with
the stack. (The pure rules are in ``payplat.model.tenancy``; the real API server parts are in
tests/e2e/test_tenancy.py.)"""

from __future__ import annotations

import inspect
from typing import Any

import kopf
import pytest

from payplat.controller.claims import MemoryClaims, SuffixInUse, after_claim, after_release
from payplat.controller.handlers import delete, reconcile
from payplat.controller.operations import Runtime
from payplat.model.identity import default_suffix
from payplat.model.tenancy import (
    AllowList,
    account_of,
    assume_role_session,
    claim_key,
    password_problem,
    role_refusal,
    secret_refusal,
)

from test_handlers import FakeEngine, _in_event_loop, call, cond, engine, events, published, runtime  # noqa: F401 - fixtures

ROLE_A = "arn:aws:iam::111122223333:role/payplat-team-a"
ROLE_B = "arn:aws:iam::444455556666:role/payplat-team-b"


def platform(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "payplat.io/v1alpha1",
        "kind": "PaymentPlatform",
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "uid": f"uid-{namespace}-{name}"},
        "spec": spec,
        "status": {},
    }


def allow(runtime: Runtime, data: dict[str, str]) -> None:
    async def read() -> AllowList:
        return AllowList.from_data(data)

    runtime.read_allowlist = read


# --------------------------------------------------------------------------- pure rules


def test_the_allow_list_takes_role_arns_and_accounts_per_namespace() -> None:
    allowlist = AllowList.from_data({"team-a": f"{ROLE_A}, 999988887777\n", "team-b": ROLE_B})
    assert allowlist.allows("team-a", ROLE_A)
    assert allowlist.allows("team-a", "arn:aws:iam::999988887777:role/anything")
    assert not allowlist.allows("team-a", ROLE_B)
    assert not allowlist.allows("team-c", ROLE_A)  # no key: nothing allowed
    message = role_refusal(allowlist, "team-b", ROLE_A, source="ConfigMap payplat-system/payplat-assume-roles")
    assert message == (
        f"spec.assumeRoleArn: {ROLE_A} is not allowed for namespace team-b (allowed: {ROLE_B}); a "
        "platform administrator adds it to ConfigMap payplat-system/payplat-assume-roles"
    )
    assert role_refusal(allowlist, "team-b", None, source="x") is None


def test_the_session_names_the_tenant_three_ways() -> None:
    session = assume_role_session("team-a", "prod")
    assert session.session_name == "payplat-team-a"
    assert session.external_id == "payplat:team-a"
    assert session.tags == {"payplat-namespace": "team-a", "payplat-platform": "prod"}
    assert len(assume_role_session("n" * 63, "p").session_name) == 64


def test_claims_are_per_account_and_region() -> None:
    assert claim_key(None, "us-east-1", "prod") == "operator.us-east-1.prod"
    assert claim_key(ROLE_A, "eu-west-1", "prod") == "111122223333.eu-west-1.prod"
    assert account_of(ROLE_B) == "444455556666"
    data = after_claim({}, "k", "team-a/prod")
    assert after_claim(data, "k", "team-a/prod") is None  # idempotent
    with pytest.raises(SuffixInUse) as taken:
        after_claim(data, "k", "team-b/prod")
    assert taken.value.holder == "team-a/prod"
    assert after_release({"k": "a/x", "j": "a/x", "l": "b/y"}, "a/x", frozenset({"j"})) == {"j": "a/x", "l": "b/y"}


def test_secret_consent_names_the_platforms() -> None:
    assert secret_refusal("team-a", "prod", "db", {"payplat.io/allowed-platforms": "staging, prod"}) is None
    refused = secret_refusal("team-a", "prod", "aws-credentials", {})
    assert refused is not None and "Secret team-a/aws-credentials does not consent to team-a/prod" in refused
    assert "payplat.io/allowed-platforms" in refused
    assert secret_refusal("team-a", "prod", "db", {"payplat.io/allowed-platforms": "production"}) is not None


def test_short_passwords_are_refused() -> None:
    assert "at least 12" in (password_problem("team-a", "db", "password", "payments") or "")
    assert password_problem("team-a", "db", "password", "correct-horse-battery") is None


# --------------------------------------------------------------------------- through the handlers


async def test_a_role_outside_the_namespace_allow_list_is_refused_before_any_engine_call(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    allow(runtime, {"team-a": ROLE_A})
    obj = platform("team-b", "prod", assumeRoleArn=ROLE_A)
    with pytest.raises(kopf.TemporaryError):  # retried: an administrator may allow it later
        await call(reconcile, obj, runtime)
    assert engine.calls == []
    assert cond(obj, "Ready") == ("False", "RoleNotAllowed")
    assert f"spec.assumeRoleArn: {ROLE_A} is not allowed for namespace team-b" in obj["status"]["message"]

    allow(runtime, {"team-a": ROLE_A, "team-b": "111122223333"})  # the administrator allows the account
    await call(reconcile, obj, runtime, retry=1)
    assert engine.calls == [("up", "team-b_prod")]


async def test_a_suffix_held_by_another_platform_is_refused_naming_the_owner(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    first, second = (
        platform("team-a", "prod", environmentSuffix="prod"),
        platform("team-b", "prod", environmentSuffix="prod"),
    )
    await call(reconcile, first, runtime)
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, second, runtime)
    assert engine.calls == [("up", "team-a_prod")]
    assert cond(second, "Ready") == ("False", "EnvironmentSuffixInUse")
    assert 'spec.environmentSuffix "prod" is used by team-a/prod' in second["status"]["message"]
    assert any(reason == "UpFailed" and "team-a/prod" in message for _, reason, message in events)

    # Another region is another namespace of AWS names: no conflict there.
    elsewhere = platform("team-b", "prod", environmentSuffix="prod", region="eu-west-1")
    await call(reconcile, elsewhere, runtime)
    assert engine.calls[-1] == ("up", "team-b_prod")


async def test_default_suffixes_of_same_named_platforms_do_not_conflict(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    for namespace in ("t1", "t2"):
        await call(reconcile, platform(namespace, "dev"), runtime)
    assert engine.calls == [("up", "t1_dev"), ("up", "t2_dev")]
    assert isinstance(runtime.claims, MemoryClaims)
    assert runtime.claims.data == {
        f"operator.us-east-1.{default_suffix(ns, 'dev')}": f"{ns}/dev" for ns in ("t1", "t2")
    }


async def test_moving_to_another_suffix_releases_the_old_claim_after_up(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform("team-a", "prod", environmentSuffix="old")
    await call(reconcile, obj, runtime)
    obj["spec"]["environmentSuffix"], obj["metadata"]["generation"] = "new", 2
    await call(reconcile, obj, runtime)
    assert runtime.claims.data == {"operator.us-east-1.new": "team-a/prod"}  # type: ignore[attr-defined]


async def test_delete_releases_the_claim_but_retain_keeps_it(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    deleted = platform(
        "team-a", "gone", environmentSuffix="gone", deletionPolicy="Delete", loadBalancer={"deletionProtection": False}
    )
    retained = platform("team-a", "kept", environmentSuffix="kept")
    for obj in (deleted, retained):
        await call(reconcile, obj, runtime)
        await call(delete, obj, runtime)
    # The retained stack's AWS resources still carry the name: nobody else may take it.
    assert runtime.claims.data == {"operator.us-east-1.kept": "team-a/kept"}  # type: ignore[attr-defined]
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, platform("team-b", "other", environmentSuffix="kept"), runtime)


async def test_claims_survive_a_restart(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    """The claims live outside the process (a ConfigMap in-cluster): a new runtime with the
    same store still refuses the second claim."""
    await call(reconcile, platform("team-a", "prod", environmentSuffix="prod"), runtime)
    restarted = Runtime(
        engine=engine,
        settings=runtime.settings,
        read_secret=runtime.read_secret,
        publish_status=runtime.publish_status,
        read_platform=runtime.read_platform,
        claims=runtime.claims,
    )
    restarted.objects = runtime.objects  # type: ignore[attr-defined]
    with pytest.raises(kopf.TemporaryError):
        await call(reconcile, platform("team-b", "prod", environmentSuffix="prod"), restarted)
    assert engine.calls == [("up", "team-a_prod")]


async def test_a_destroy_with_a_role_no_longer_allowed_waits(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    allow(runtime, {"team-a": ROLE_A})
    obj = platform(
        "team-a", "prod", assumeRoleArn=ROLE_A, deletionPolicy="Delete", loadBalancer={"deletionProtection": False}
    )
    await call(reconcile, obj, runtime)
    allow(runtime, {})
    with pytest.raises(kopf.TemporaryError):
        await call(delete, obj, runtime)
    assert engine.calls == [("up", "team-a_prod")]
    assert "is not allowed for namespace team-a" in obj["status"]["message"]


for _name, _test in list(globals().items()):  # no asyncio plugin: each async test runs in its own loop
    if _name.startswith("test_") and inspect.iscoroutinefunction(_test):
        globals()[_name] = _in_event_loop(_test)
