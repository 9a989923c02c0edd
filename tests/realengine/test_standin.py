"""The stand-in AWS provider's own decisions, called directly (no CLI): replacements on
force-new fields, unknowns in preview, drift and deletion seen by Read, faults with AWS's
error texts, and a journal without secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2

from payplat_dev.standin.cloud import FAIL_TAG, SLOW_TAG, StandinCloud, parse_faults, parse_slow, stack_of
from payplat_dev.standin.provider import UNKNOWN, StandinProvider, diff

URN = "urn:pulumi:ns-shop::payplat::payplat:index:Platform$aws:ecs/cluster:Cluster::shop-cluster"
TYPE = "aws:ecs/cluster:Cluster"


class Aborted(Exception):
    pass


class Context:
    def abort(self, code: grpc.StatusCode, message: str) -> None:
        self.code, self.message = code, message
        raise Aborted(message)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


@pytest.fixture
def provider(tmp_path: Path) -> StandinProvider:
    return StandinProvider(StandinCloud(tmp_path))


def create(provider: StandinProvider, inputs: dict[str, Any], *, preview: bool = False, urn: str = URN) -> Any:
    return provider.Create(
        provider_pb2.CreateRequest(
            urn=urn, type=TYPE, name=urn.rsplit("::", 1)[-1], properties=struct(inputs), preview=preview
        ),
        Context(),
    )


def test_a_force_new_field_asks_for_a_replacement_and_tags_update_in_place() -> None:
    old = {"name": "payplat-shop", "tags": {"team": "a"}}
    assert diff(TYPE, old, {**old, "tags": {"team": "b"}}) == (["tags"], [])
    assert diff(TYPE, old, {**old, "name": "payplat-other"}) == (["name"], ["name"])
    assert diff(TYPE, old, dict(old)) == ([], [])
    task = "aws:ecs/taskDefinition:TaskDefinition"  # every revision is immutable, tags aside
    assert diff(task, {"cpu": "256", "tags": {}}, {"cpu": "512", "tags": {"x": "1"}}) == (["cpu", "tags"], ["cpu"])


def test_an_unknown_input_is_a_change_even_when_the_old_value_matches_its_text() -> None:
    assert diff(TYPE, {"name": "a"}, {"name": UNKNOWN}) == (["name"], ["name"])


def test_preview_answers_unknown_for_what_aws_computes(provider: StandinProvider, tmp_path: Path) -> None:
    preview = create(provider, {"name": "payplat-shop"}, preview=True)
    props = dict(preview.properties)
    assert preview.id == "" and props["arn"] == UNKNOWN and props["name"] == "payplat-shop"
    assert StandinCloud(tmp_path).journal("ns-shop") == []  # a preview creates nothing


def test_create_read_drift_and_out_of_band_delete(provider: StandinProvider, tmp_path: Path) -> None:
    created = create(provider, {"name": "payplat-shop", "tags": {"team": "a"}})
    cloud = StandinCloud(tmp_path)
    assert created.id.startswith("arn:aws:ecs:us-east-1:000000000000:cluster/")
    assert [e["action"] for e in cloud.journal("ns-shop")] == ["create"]

    cloud.drift("ns-shop", "shop-cluster", changes={"tags": {"team": "changed-in-console"}})
    read = provider.Read(provider_pb2.ReadRequest(id=created.id, urn=URN), Context())
    assert read.id == created.id and dict(read.inputs["tags"]) == {"team": "changed-in-console"}

    cloud.drift("ns-shop", "shop-cluster", delete=True)
    assert provider.Read(provider_pb2.ReadRequest(id=created.id, urn=URN), Context()).id == ""
    assert [e["actor"] for e in cloud.journal("ns-shop")] == ["pulumi", "out-of-band", "out-of-band"]


def test_the_new_half_of_a_replacement_gets_its_own_id(provider: StandinProvider) -> None:
    first = create(provider, {"name": "payplat-shop"})
    second = create(provider, {"name": "payplat-shop"})  # create-before-delete: both live for a moment
    assert first.id != second.id


def test_a_fault_tag_fails_with_the_aws_sdk_error_text_then_lets_go(provider: StandinProvider, tmp_path: Path) -> None:
    inputs = {"name": "payplat-shop", "tags": {FAIL_TAG: "Cluster:ThrottlingException:1"}}
    with pytest.raises(Aborted) as failed:
        create(provider, inputs)
    text = str(failed.value)
    assert "operation error ECS: CreateCluster, https response error StatusCode: 400" in text
    assert "api error ThrottlingException: Rate exceeded" in text
    assert create(provider, inputs).id  # the second attempt succeeds
    assert [e["action"] for e in StandinCloud(tmp_path).journal("ns-shop")] == ["create"]


def test_a_fault_limited_to_deletes_lets_the_create_through(provider: StandinProvider) -> None:
    inputs = {"name": "payplat-shop", "tags": {FAIL_TAG: "delete@Cluster:AccessDeniedException"}}
    created = create(provider, inputs)
    with pytest.raises(
        Aborted, match=r"AccessDeniedException: User: .* is not authorized to perform: ECS:CreateCluster"
    ):
        provider.Delete(
            provider_pb2.DeleteRequest(id=created.id, urn=URN, type=TYPE, properties=struct(inputs)), Context()
        )


def test_tag_grammar_errors_name_the_tag_and_the_form() -> None:
    assert parse_faults("LogGroup:ThrottlingException:2, delete@ecs/cluster:Cluster:X")[1].action == "delete"
    assert parse_slow("ecs/service:Service:2.5") == [("ecs/service:Service", 2.5)]
    with pytest.raises(ValueError, match=FAIL_TAG):
        parse_faults("Cluster")
    with pytest.raises(ValueError, match=SLOW_TAG):
        parse_slow("Cluster:soon")


def test_secret_inputs_never_reach_the_journal(provider: StandinProvider, tmp_path: Path) -> None:
    urn = "urn:pulumi:ns-shop::payplat::aws:secretsmanager/secretVersion:SecretVersion::shop-db"
    provider.Create(
        provider_pb2.CreateRequest(
            urn=urn,
            type="aws:secretsmanager/secretVersion:SecretVersion",
            name="shop-db",
            properties=struct({"secretId": "arn:x", "secretString": "hunter2-pw"}),
        ),
        Context(),
    )
    assert "hunter2-pw" not in (tmp_path / "journal" / "ns-shop.jsonl").read_text()
    assert stack_of(urn) == "ns-shop"


def test_invokes_answer_like_the_mocks(provider: StandinProvider) -> None:
    answer = provider.Invoke(provider_pb2.InvokeRequest(tok="aws:index/getCallerIdentity:getCallerIdentity"), Context())
    assert dict(answer.__getattribute__("return"))["accountId"] == "000000000000"
    with pytest.raises(Aborted, match="do not answer the invoke"):
        provider.Invoke(provider_pb2.InvokeRequest(tok="aws:index/getAmi:getAmi"), Context())
