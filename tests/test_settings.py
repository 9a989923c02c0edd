"""Settings: env vars, flags over env, watch scope defaults, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from payplat.controller import runner
from payplat.controller import settings as settings_module
from payplat.controller.settings import Settings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = Settings()
    assert settings.engine == "offline"
    assert settings.max_concurrent_operations == 4
    assert settings.state_dir == tmp_path / "payplat"
    assert settings.log_format == "json"


def test_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAT_ENGINE", "pulumi")
    monkeypatch.setenv("PAYPLAT_BACKEND_URL", "s3://payplat-state/pulumi")
    monkeypatch.setenv("PAYPLAT_SECRETS_PROVIDER", "awskms://alias/payplat-pulumi?region=eu-west-1")
    monkeypatch.setenv("PAYPLAT_MAX_CONCURRENT_OPERATIONS", "8")
    monkeypatch.setenv("PAYPLAT_NAMESPACES", "team-a, team-b")
    settings = runner.settings_from(parse("--max-concurrent-operations", "2", "--no-leader-election"))
    assert settings.engine == "pulumi"  # from the environment
    assert settings.max_concurrent_operations == 2  # the flag wins
    assert settings.namespaces == ["team-a", "team-b"]
    assert settings.leader_election is False
    assert runner.settings_from(parse("--namespace", "x", "--namespace", "y")).namespaces == ["x", "y"]


def test_watch_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    monkeypatch.setattr(settings_module, "in_cluster", lambda: False)
    assert Settings().watch_scope() == (True, [])  # outside a cluster: everything
    assert Settings(namespaces=["a"]).watch_scope() == (False, ["a"])
    monkeypatch.setenv("POD_NAMESPACE", "payplat-system")
    assert Settings().watch_scope() == (False, ["payplat-system"])  # in-cluster: its own namespace
    assert Settings(cluster_wide=True).watch_scope() == (True, [])
    assert Settings().lease_namespace_in_force() == "payplat-system"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"PAYPLAT_ENGINE": "terraform"}, "engine"),
        ({"PAYPLAT_MAX_CONCURRENT_OPERATIONS": "0"}, "max_concurrent_operations"),
        ({"PAYPLAT_CLUSTER_WIDE": "true", "PAYPLAT_NAMESPACES": "a"}, "cluster_wide and namespaces"),
        ({"PAYPLAT_BACKOFF_BASE_SECONDS": "600", "PAYPLAT_BACKOFF_CAP_SECONDS": "60"}, "backoff_base_seconds"),
    ],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=field):
        Settings()


def test_run_reports_bad_settings_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYPLAT_ENGINE", "terraform")
    assert runner.command(parse()) == 2
    err = capsys.readouterr().err
    assert "engine (flag --engine, env PAYPLAT_ENGINE)" in err and "'terraform'" in err
    assert "Traceback" not in err


def test_every_flag_names_a_setting() -> None:
    namespace = parse()
    assert set(vars(namespace)) <= set(Settings.model_fields)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ("PAYPLAT_BACKEND_URL", "PAYPLAT_SECRETS_PROVIDER")),
        (
            {"PAYPLAT_BACKEND_URL": "file:///var/lib/payplat/backend"},
            ("PAYPLAT_BACKEND_URL", "PAYPLAT_SECRETS_PROVIDER"),
        ),
        ({"PAYPLAT_BACKEND_URL": "s3://payplat-state/pulumi"}, ("PAYPLAT_SECRETS_PROVIDER",)),
        ({"PAYPLAT_BACKEND_URL": "s3://", "PAYPLAT_SECRETS_PROVIDER": "awskms://alias/k"}, ("PAYPLAT_BACKEND_URL",)),
        ({"PAYPLAT_BACKEND_URL": "s3://b/p", "PAYPLAT_SECRETS_PROVIDER": "passphrase"}, ("PAYPLAT_SECRETS_PROVIDER",)),
    ],
)
def test_the_pulumi_engine_refuses_state_a_restart_would_lose(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: tuple[str, ...]
) -> None:
    monkeypatch.setenv("PAYPLAT_ENGINE", "pulumi")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = str(caught.value)
    assert all(variable in message for variable in named)
    assert ("PAYPLAT_BACKEND_URL" in message) is ("PAYPLAT_BACKEND_URL" in named)


def test_the_pulumi_engine_starts_with_a_durable_backend_and_a_kms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAT_ENGINE", "pulumi")
    monkeypatch.setenv("PAYPLAT_BACKEND_URL", "s3://payplat-state/pulumi?region=eu-west-1")
    monkeypatch.setenv("PAYPLAT_SECRETS_PROVIDER", "awskms://alias/payplat-pulumi?region=eu-west-1")
    assert Settings().engine == "pulumi"
    monkeypatch.setenv("PAYPLAT_ENGINE", "offline")
    monkeypatch.delenv("PAYPLAT_BACKEND_URL")
    assert Settings().backend_url is None  # the offline engine needs neither


def test_run_exits_2_naming_the_variables(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAYPLAT_ENGINE", "pulumi")
    assert runner.command(parse()) == 2
    err = capsys.readouterr().err
    assert "PAYPLAT_BACKEND_URL" in err and "PAYPLAT_SECRETS_PROVIDER" in err and "Traceback" not in err
