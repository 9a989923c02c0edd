"""The image cannot be built here (no container engine), so its promises are checked
from the Dockerfile itself: pins that agree with pyproject, a pinned base, a non-root
final stage without build tools, and writable paths that the Deployment mounts."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

import yaml

from tests.ship.rendering import MANIFESTS, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PINS = dict(
    re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", dep).groups()  # type: ignore[misc]
    for dep in PYPROJECT["project"]["dependencies"]
)


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self) -> dict[str, str]:
        return dict(arg.split("=", 1) for op, arg in self.instructions if op == "ARG" and "=" in arg)

    def all(self, op: str) -> list[str]:
        return [arg for kind, arg in self.instructions if kind == op]


def _stages() -> list[Stage]:
    """The Dockerfile's stages, a ``FROM ${ARG}`` resolved to the ARG's default (what a
    build without build arguments, the README's, uses)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        if op.upper() == "ARG" and not stages:
            name, _, default = arg.partition("=")
            global_args[name.strip()] = default.strip()
        elif op.upper() == "FROM":
            base, _, name = arg.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], base.strip())
            stages.append(Stage(base, name.strip()))
        elif stages:
            stages[-1].instructions.append((op.upper(), arg.strip()))
    return stages


STAGES = _stages()
FINAL = STAGES[-1]


def _cli_script_version() -> str:
    match = re.search(
        r"^PULUMI_CLI_VERSION=\$\{PULUMI_CLI_VERSION:-v(\d+\.\d+\.\d+)\}$",
        (ROOT / "hack" / "pulumi-cli.sh").read_text(),
        re.MULTILINE,
    )
    assert match, "hack/pulumi-cli.sh pins no PULUMI_CLI_VERSION"
    return match[1]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_pulumi_pins_agree_with_pyproject_and_the_cli_the_tests_run() -> None:
    from payplat_dev.realengine import PULUMI_CLI_VERSION

    cli = _cli_script_version()
    assert f"v{cli}" == PULUMI_CLI_VERSION  # what the real-engine tests and the demo run
    declaring = [stage for stage in STAGES if "PULUMI_VERSION" in stage.args()]
    assert declaring, "no ARG PULUMI_VERSION"
    for stage in declaring:
        # The image ships the very CLI the tests run (hack/pulumi-cli.sh). It is newer than
        # the Python SDK pin because the Go module proxy serves no v3.271-v3.273; the SDK
        # accepts any newer 3.x CLI (README, "Pulumi versions").
        assert stage.args()["PULUMI_VERSION"] == cli, stage.name
        assert stage.args()["PULUMI_AWS_VERSION"] == PINS["pulumi-aws"], stage.name
    sdk = PINS["pulumi"]
    assert _version(sdk)[0] == _version(cli)[0] and _version(sdk) <= _version(cli), (sdk, cli)
    installs = " ".join(" ".join(stage.all("RUN")) for stage in STAGES)
    assert 'plugin install resource aws "${PULUMI_AWS_VERSION}" --exact' in installs
    # A build without build arguments labels its plugin as the release one; only the
    # test build (hack/image.sh, operator-standin) says "standin".
    assert FINAL.args()["PULUMI_AWS_SOURCE"] == "release"
    assert 'io.payplat.pulumi-aws.source="${PULUMI_AWS_SOURCE}"' in " ".join(FINAL.all("LABEL"))


def test_one_pinned_slim_python_base_matching_requires_python() -> None:
    external = [stage.base for stage in STAGES if stage.base not in {s.name for s in STAGES}]
    assert len(external) == 1, external
    match = re.fullmatch(r"python:(3\.\d+)\.\d+-slim-[a-z]+", external[0])
    assert match, f"{external[0]} is not an exact python:X.Y.Z-slim-<release> tag"
    assert f">={match[1]}" in PYPROJECT["project"]["requires-python"]


def test_final_stage_is_non_root_and_has_no_build_tools() -> None:
    user = FINAL.all("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, user
    runs = " ".join(FINAL.all("RUN"))
    for tool in ("apt-get install", "curl", "wget", "gcc", "build-essential", "pip install"):
        assert tool not in runs, tool
    assert FINAL.all("ENTRYPOINT") == ['["payplat"]']
    labels = " ".join(FINAL.all("LABEL"))
    for key in ("title", "source", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_writable_paths_of_the_image_are_volumes_in_the_deployment() -> None:
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(FINAL.all("ENV"))))
    deployment = yaml.safe_load((MANIFESTS / "base" / "deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {env["PULUMI_HOME"], env["PAYPLAT_STATE_DIR"], "/tmp"} <= mounts
    assert env["HOME"] + "/.pulumi" == env["PULUMI_HOME"]
    assert container["securityContext"]["runAsUser"] == int(FINAL.all("USER")[-1].split(":")[0])


def test_build_context_holds_what_the_package_build_reads() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    for needed in ("pyproject.toml", PYPROJECT["project"]["readme"], "operator/"):
        assert f"!{needed}" in ignore, needed
    copies = " ".join(" ".join(stage.all("COPY")) for stage in STAGES)
    assert "pyproject.toml" in copies and PYPROJECT["project"]["readme"] in copies
