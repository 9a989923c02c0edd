"""The program's pure helpers, tested without Pulumi."""

from __future__ import annotations

import ipaddress

import pytest

from payplat.model.parsing import parse_spec
from payplat.model.spec import ServiceSpec
from payplat.program.containers import container_definition, secret_value_from
from payplat.program.naming import bounded, subnet_cidrs
from payplat.program.platform import listener_priorities
from payplat.program.policies import execution_secret_policy, kms_key_policy, partition_of


def test_bounded_keeps_short_names_unchanged() -> None:
    assert bounded("prod-alb", 32) == "prod-alb"


def test_bounded_truncates_deterministically_and_keeps_long_names_apart() -> None:
    first = bounded("a-very-long-environment-suffix-payment-processor", 32)
    second = bounded("a-very-long-environment-suffix-payment-gateway", 32)
    assert len(first) <= 32 and len(second) <= 32
    assert first != second
    assert first == bounded("a-very-long-environment-suffix-payment-processor", 32)
    assert first.startswith("a-very-long-env") and len(first.rsplit("-", 1)[1]) == 16
    assert "--" not in bounded("payplat-a-long-suffix--payment-processor", 32)  # the join never survives a cut


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.8.0/21", "192.168.1.0/24"])
@pytest.mark.parametrize("zones", [2, 3])
def test_subnet_cidrs_are_disjoint_and_inside_the_vpc(cidr: str, zones: int) -> None:
    public, private = subnet_cidrs(cidr, zones)
    networks = [ipaddress.IPv4Network(c) for c in public + private]
    assert len(public) == len(private) == zones
    assert all(n.subnet_of(ipaddress.IPv4Network(cidr)) for n in networks)
    assert all(not a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_subnet_cidrs_do_not_move_when_a_zone_is_added() -> None:
    two, three = subnet_cidrs("10.0.0.0/16", 2), subnet_cidrs("10.0.0.0/16", 3)
    assert three[0][:2] == two[0] and three[1][:2] == two[1]


def test_secret_value_from_keeps_the_trailing_colons() -> None:
    assert secret_value_from("arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf", "password") == (
        "arn:aws:secretsmanager:eu-west-1:1:secret:x-AbCdEf:password::"
    )


def test_container_definition_keeps_credentials_out_of_the_environment() -> None:
    service = ServiceSpec.model_validate(
        {
            "name": "api",
            "image": "nginx:1.27",
            "environment": {"MODE": "live"},
            "secrets": [{"name": "DB_PASSWORD", "key": "password"}],
        }
    )
    definition = container_definition(service, secret_arn="arn:s", log_group="/g", region="eu-west-1")
    assert definition["environment"] == [{"name": "MODE", "value": "live"}]
    assert definition["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": "arn:s:password::"}]
    assert "command" not in definition and "healthCheck" not in definition


def test_kms_key_policy_condition_uses_a_wildcard_log_group_arn() -> None:
    logs = kms_key_policy(partition="aws-cn", account="1", region="cn-north-1")["Statement"][1]
    assert logs["Principal"] == {"Service": "logs.cn-north-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == "arn:aws-cn:logs:cn-north-1:1:*"


def test_execution_secret_policy_names_exact_resources() -> None:
    statements = execution_secret_policy(secret_arn="arn:s", key_arn="arn:k")["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        (["secretsmanager:GetSecretValue"], ["arn:s"]),
        (["kms:Decrypt"], ["arn:k"]),
    ]


def test_partition_of_reads_the_arn() -> None:
    assert partition_of("arn:aws-us-gov:sts::1:assumed-role/x/y") == "aws-us-gov"


def test_listener_priorities_are_stable_when_services_are_added() -> None:
    image = "docker.io/traefik/whoami:v1.10.3"
    before = parse_spec(
        {"services": [{"name": "a", "image": image, "public": True}, {"name": "b", "image": image, "public": True}]}
    )
    after = parse_spec(
        {
            "services": [
                {"name": "a", "image": image, "public": True},
                {"name": "b", "image": image, "public": True},
                {"name": "c", "image": image, "public": True},
            ]
        }
    )
    assert listener_priorities(before) == {"a": 50000, "b": 101}
    assert listener_priorities(after) == {"a": 50000, "b": 101, "c": 102}


def test_every_pulumi_aws_module_the_program_uses_is_loaded_up_front() -> None:
    """``load_aws_modules`` must cover every ``aws.<module>`` the program touches, or two
    programs running at once can race in pulumi_aws's lazy loader again."""
    import re
    from pathlib import Path

    from payplat.program.build import AWS_MODULES

    sources = (Path(__file__).parents[2] / "operator" / "payplat" / "program").glob("*.py")
    used = {m for path in sources for m in re.findall(r"\baws\.([a-z0-9]+)\.", path.read_text())}
    assert used and used <= set(AWS_MODULES), sorted(used - set(AWS_MODULES))


def test_programs_in_threads_see_complete_aws_modules_once_loaded() -> None:
    """In a fresh interpreter (nothing loaded yet): eight threads touching the modules at
    once, after ``load_aws_modules``, all find every class. Without it most of them fail."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import threading, pulumi_aws as aws
from payplat.program.build import load_aws_modules
load_aws_modules()
errors = []
def touch():
    try:
        aws.ec2.Vpc, aws.kms.Key, aws.lb.TargetGroup, aws.ecs.Service, aws.vpc.SecurityGroupIngressRule
    except AttributeError as error:
        errors.append(error)
threads = [threading.Thread(target=touch) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors))
"""
    operator_dir = str(Path(__file__).parents[2] / "operator")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": operator_dir, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "0", out.stderr
