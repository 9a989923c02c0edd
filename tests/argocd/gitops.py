"""A real Argo CD next to the local control plane, and a local Git repository for it.

Argo CD v3's application-controller and repo-server (the binary hack/argocd.sh builds) and
redis run as host processes beside etcd and kube-apiserver, the way
../shared/reference/argocd.md measured it: the controller talks to the API server through
a kubeconfig (``ARGOCD_FAKE_IN_CLUSTER``: ``https://kubernetes.default.svc`` means that
kubeconfig), the repo-server clones ``file://`` repositories. After a push the tests
annotate the Application with ``argocd.argoproj.io/refresh`` (what a Git webhook does)
instead of waiting for a poll. The controller's own resync is set to minutes, so nothing
here passes by polling luck.

Development tooling only: nothing in payplat imports this.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from payplat_dev.localcluster import LocalCluster
from payplat_dev.processes import ManagedProcess, free_port, tail

ROOT = Path(__file__).parent.parent.parent
CM_PATCH = ROOT / "manifests" / "argocd" / "argocd-cm-patch.yaml"
REFRESH = "argocd.argoproj.io/refresh"
WAIT = 120.0  # a bound for "eventually", not a performance assertion
T = TypeVar("T")


# --------------------------------------------------------------------------- git


@dataclass
class GitRepo:
    """A bare repository (what Argo CD reads, by ``file://`` URL) and a clone to edit."""

    bare: Path
    work: Path

    @classmethod
    def create(cls, root: Path, name: str) -> GitRepo:
        repo = cls(root / f"{name}.git", root / name)
        repo.bare.parent.mkdir(parents=True, exist_ok=True)
        _git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(repo.bare))
        _git(root, "init", "--quiet", "--initial-branch=main", str(repo.work))
        _git(repo.work, "remote", "add", "origin", str(repo.bare))
        return repo

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def write(self, relative: str, docs: list[dict[str, Any]] | str) -> None:
        path = self.work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(docs if isinstance(docs, str) else yaml.safe_dump_all(docs, sort_keys=False))

    def remove(self, relative: str) -> None:
        (self.work / relative).unlink()

    def push(self, message: str, tag: str | None = None) -> str:
        """Commit everything and push ``main`` (and ``tag``); the new commit's SHA."""
        _git(self.work, "add", "--all")
        _git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        _git(self.work, "push", "--quiet", "origin", "HEAD:main")
        if tag:
            _git(self.work, "tag", "--force", tag)
            _git(self.work, "push", "--quiet", "--force", "origin", f"refs/tags/{tag}")
        return _git(self.work, "rev-parse", "HEAD").strip()


def _git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "payplat tests",
        "GIT_AUTHOR_EMAIL": "tests@payplat.invalid",
        "GIT_COMMITTER_NAME": "payplat tests",
        "GIT_COMMITTER_EMAIL": "tests@payplat.invalid",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout


# --------------------------------------------------------------------------- argo cd


@dataclass
class ArgoCD:
    """Argo CD's controller, repo-server and redis, serving one namespace of Applications."""

    cluster: LocalCluster
    home: Path
    namespace: str
    workdir: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    @classmethod
    def start(cls, cluster: LocalCluster, home: Path, workdir: Path) -> ArgoCD:
        cluster.install_crds(home / "crds")
        argo = cls(cluster, home, cluster.create_namespace("argocd"), workdir)
        try:
            argo._configure()
            redis = argo._start_redis()
            repo_server = argo._start_repo_server(redis)
            argo._start_controller(redis, repo_server)
        except BaseException:
            argo.stop()
            raise
        return argo

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=10)

    # ---- set-up

    def _configure(self) -> None:
        """What an Argo CD install creates next to its pods: argocd-cm (with this
        repository's health check, applied from the shipped patch), the other config maps,
        argocd-secret and the default AppProject (argocd-server would create that one)."""
        labels = {"app.kubernetes.io/part-of": "argocd"}
        cm = yaml.safe_load(CM_PATCH.read_text())
        cm["metadata"]["namespace"] = self.namespace
        cm["data"]["timeout.reconciliation"] = "180s"
        docs: list[dict[str, Any]] = [cm]
        for name in ("argocd-rbac-cm", "argocd-cmd-params-cm"):
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
                }
            )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "argocd-secret", "namespace": self.namespace, "labels": labels},
                "stringData": {"server.secretkey": secrets.token_urlsafe(32)},
            }
        )
        docs.append(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": "default", "namespace": self.namespace},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            }
        )
        self.cluster.apply(docs)

    def _env(self, name: str, **extra: str) -> dict[str, str]:
        home = self.workdir / name
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        # The repo-server runs git through git-verify-wrapper.sh and git-ask-pass.sh and
        # renders charts with helm: all on PATH, like in Argo CD's image.
        path = [
            str(self.home / "hack"),
            str(self.home / "bin"),
            str(self.cluster.bin_dir),
            "/usr/local/bin",
            "/usr/bin",
            "/bin",
        ]
        return {
            "PATH": os.pathsep.join(path),
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "ARGOCD_GPG_ENABLED": "false",
            **extra,
        }

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], port: int) -> ManagedProcess:
        proc = self.cluster.spawn(f"argocd-{name}", argv, env=env)
        self.processes.append(proc)
        deadline = time.monotonic() + 60
        while not _listening(port):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen on {port}; log {proc.log_path}:\n{tail(proc.log_text())}")
            time.sleep(0.2)
        return proc

    def _start_redis(self) -> int:
        port = free_port()
        self._spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            self._env("redis"),
            port,
        )
        return port

    def _start_repo_server(self, redis: int) -> int:
        port = free_port()
        self._spawn(
            "repo-server",
            [
                str(self.home / "bin" / "argocd-repo-server"),
                "--address",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-tls",
                "--client-ca-path",
                "",
                "--redis",
                f"127.0.0.1:{redis}",
                "--metrics-address",
                "127.0.0.1",
                "--metrics-port",
                str(free_port()),
            ],
            self._env("repo-server"),
            port,
        )
        return port

    def _start_controller(self, redis: int, repo_server: int) -> None:
        metrics = free_port()
        kubeconfig = str(self.cluster.kubeconfig)
        self._spawn(
            "application-controller",
            [
                str(self.home / "bin" / "argocd-application-controller"),
                "--kubeconfig",
                kubeconfig,
                "--namespace",
                self.namespace,
                "--redis",
                f"127.0.0.1:{redis}",
                "--repo-server",
                f"127.0.0.1:{repo_server}",
                "--repo-server-plaintext",
                "--metrics-port",
                str(metrics),
                # Minutes: a test that passes must have been driven by the refresh annotation
                # or by a watch event, never by the periodic resync.
                "--app-resync",
                "180",
                "--app-resync-jitter",
                "0",
                "--self-heal-timeout-seconds",
                "2",
                "--persist-resource-health",
            ],
            self._env("application-controller", ARGOCD_FAKE_IN_CLUSTER="true", KUBECONFIG=kubeconfig),
            metrics,
        )

    # ---- applications

    def apply(self, app: dict[str, Any]) -> None:
        app = json.loads(json.dumps(app))
        app["metadata"]["namespace"] = self.namespace
        self.cluster.apply(app)

    def refresh(self, name: str) -> None:
        """What a Git webhook does after a push: ask for a refresh now."""
        self.cluster.kubectl("annotate", "application", name, "-n", self.namespace, f"{REFRESH}=normal", "--overwrite")

    def app(self, name: str) -> dict[str, Any]:
        return dict(self.cluster.get_json("application", name, namespace=self.namespace))

    def logs(self) -> str:
        return ", ".join(str(p.log_path) for p in self.processes)

    def wait(
        self,
        name: str,
        probe: Callable[[dict[str, Any]], T | None],
        what: str,
        timeout: float = WAIT,
        alive: Callable[[], bool] | None = None,
    ) -> T:
        """Poll Application ``name`` until ``probe(app)`` is truthy; fail with the last
        status seen and the log files otherwise."""
        deadline = time.monotonic() + timeout
        app: dict[str, Any] = {}
        while True:
            app = self.app(name)
            value = probe(app)
            if value:
                return value
            dead = [p.name for p in self.processes if not p.alive()]
            if dead or (alive is not None and not alive()) or time.monotonic() > deadline:
                status = json.dumps(app.get("status", {}), indent=1)[-4000:]
                pytest.fail(
                    f"waiting for {what} on Application {name}: "
                    f"{'exited: ' + ', '.join(dead) if dead else 'timed out'}; status:\n{status}\n"
                    f"logs: {self.logs()}",
                    pytrace=False,
                )
            time.sleep(0.25)


def application(
    name: str, repo_url: str, path: str, namespace: str, *, prune: bool, revision: str = "main"
) -> dict[str, Any]:
    """An Application syncing ``path`` of ``repo_url`` into ``namespace`` automatically.
    Pruning uses background propagation: this control plane has no garbage collector to
    finish a foreground deletion (a real cluster does)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": revision, "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            # allowEmpty: a test removes every platform from Git on purpose.
            "syncPolicy": {
                "automated": {"prune": prune, "selfHeal": True, "allowEmpty": prune},
                "syncOptions": ["PrunePropagationPolicy=background"],
            },
        },
    }


def resource(app: dict[str, Any], kind: str, name: str) -> dict[str, Any] | None:
    """The Application's entry for one live or wanted object, if it lists one."""
    for entry in app.get("status", {}).get("resources", []):
        if entry.get("kind") == kind and entry.get("name") == name:
            return dict(entry)
    return None


def health_of(app: dict[str, Any], name: str) -> dict[str, str] | None:
    """Argo CD's health for PaymentPlatform ``name`` as persisted on the Application."""
    entry = resource(app, "PaymentPlatform", name)
    return dict(entry["health"]) if entry and entry.get("health") else None


def synced_at(app: dict[str, Any], revision: str) -> bool:
    sync = app.get("status", {}).get("sync", {})
    return sync.get("status") == "Synced" and sync.get("revision") == revision


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
