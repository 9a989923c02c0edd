"""``PulumiEngine`` on the real CLI, without a cluster: its whole life cycle on the
production URL forms (moto S3 + awskms), and its default configuration (a ``file://``
backend and a passphrase), which failed before the real path had ever run."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from payplat.engines.base import StackRef, StackSecrets
from payplat.engines.pulumi import PulumiEngine
from tests.engines.helpers import WEB, small_spec

PASSWORD = "life-cycle-Password-0042"


def test_up_noop_update_replace_drift_and_destroy(real_engine: PulumiEngine, kit: Any) -> None:
    ref, secrets = StackRef("life", "shop"), StackSecrets(db_password=PASSWORD)
    cloud, stack = kit.cloud, ref.stack_name

    first = asyncio.run(real_engine.up(ref, small_spec(), secrets))
    creates = cloud.creates_by_urn(stack)
    assert first.changes.create >= len(creates) > 40 and max(creates.values()) == 1
    assert first.outputs["vpcId"].startswith("vpc-")
    assert PASSWORD not in json.dumps(first.outputs)
    state = kit.state_objects()
    assert not [key for key, body in state.items() if PASSWORD.encode() in body]

    again = asyncio.run(real_engine.up(ref, small_spec(), secrets))
    assert again.changes.total == 0 and cloud.creates_by_urn(stack) == creates

    retagged = asyncio.run(real_engine.up(ref, small_spec(tags={"team": "b"}), secrets))
    assert retagged.changes.update > 10 and retagged.changes.create == retagged.changes.replace == 0

    image = WEB["image"].replace("1.27.5", "1.27.4")
    swapped = asyncio.run(
        real_engine.up(ref, small_spec(tags={"team": "b"}, services=[{**WEB, "image": image}]), secrets)
    )
    assert swapped.changes.replace == 1
    assert Counter(e["type"] for e in cloud.journal(stack)[-3:] if e["action"] != "update") == {
        "aws:ecs/taskDefinition:TaskDefinition": 2
    }

    spec = small_spec(tags={"team": "b"}, services=[{**WEB, "image": image}])
    assert not asyncio.run(real_engine.detect_drift(ref, spec, secrets)).drifted
    cloud.drift(stack, "shop-vpc", changes={"enableDnsHostnames": False})
    drift = asyncio.run(real_engine.detect_drift(ref, spec, secrets))
    assert drift.drifted and drift.changes.update >= 1, drift.message

    gone = asyncio.run(real_engine.destroy(ref, spec))
    assert gone.changes.delete >= len(creates) and cloud.objects(stack) == []
    assert not [k for k in kit.state_objects() if k.endswith(f"/{stack}.json") and "/stacks/" in k]


def test_the_default_configuration_file_backend_and_passphrase_runs(kit: Any, tmp_path: Path) -> None:
    """No backend URL, no secrets provider: ``file://<state_dir>/backend`` and a passphrase
    made once. The CLI refused the backend folder nobody had created."""
    engine = PulumiEngine(tmp_path / "state")
    ref = StackRef("defaults", "shop")
    result = asyncio.run(engine.up(ref, small_spec(), StackSecrets()))
    assert result.changes.create > 40
    assert (tmp_path / "state" / "backend" / ".pulumi" / "stacks" / "payplat" / f"{ref.stack_name}.json").is_file()


def test_a_lost_workspace_keeps_the_kms_secrets_provider_and_the_password(
    real_engine: PulumiEngine, kit: Any, tmp_path: Path
) -> None:
    """A pod restart empties ``<state_dir>/workspaces`` (an emptyDir): the stack settings
    file that names the ``awskms://`` provider and its encrypted data key is gone, and the
    CLI then asks for a passphrase. The engine restores them from the stack's state."""
    import shutil

    ref = StackRef("lost", "shop")
    asyncio.run(real_engine.up(ref, small_spec(), StackSecrets()))  # a generated password
    versions = [o for o in kit.cloud.objects(ref.stack_name) if o["type"].endswith("secretVersion:SecretVersion")]
    shutil.rmtree(tmp_path / "state" / "workspaces")

    again = asyncio.run(real_engine.up(ref, small_spec(), StackSecrets()))
    assert again.changes.total == 0  # same password read back from the backend: nothing rotated
    assert [
        o for o in kit.cloud.objects(ref.stack_name) if o["type"].endswith("secretVersion:SecretVersion")
    ] == versions
    settings = (tmp_path / "state" / "workspaces" / ref.stack_name / f"Pulumi.{ref.stack_name}.yaml").read_text()
    assert f"secretsprovider: {kit.secrets_provider}" in settings
