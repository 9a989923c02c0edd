"""A real Kubernetes control plane on loopback, for the end-to-end tests and ``payplat demo``.

An operator is only proven against a real API server (schema and CEL validation, status
subresources, finalizers, RBAC, watches), but these machines have no cluster and no
container engine. So this module does what controller-runtime's envtest does: it runs
etcd and kube-apiserver (built once by ``hack/testbin.sh``) as child processes on free
127.0.0.1 ports, with certificates made on the spot, and writes an admin kubeconfig.
There is no controller manager: namespaces never finish deleting and no default service
accounts appear, so callers create a fresh namespace per test and their own accounts.

Everything started here is stopped on exit, whatever the exit: the context manager, an
``atexit`` hook, SIGTERM/SIGHUP turned into a normal exit, and ``PR_SET_PDEATHSIG`` so a
child dies even when this process is SIGKILLed. Each child runs in its own process
group, which is what gets killed.

``payplat demo`` (the README's first command) is built on it, in ``payplat_dev.demo``.

This module is the cluster's lifecycle (start, readiness, stop) and its kubectl helpers.
Where the binaries and the checkout are is ``payplat_dev.testbin``'s; the stop-at-exit
registry and signal hooks are ``payplat_dev.exitcleanup``'s; kubeconfigs and running
kubectl, shared with the node lane's cluster, are ``payplat_dev.kubectl``'s.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from payplat_dev import exitcleanup
from payplat_dev.kubectl import crd_established, run_kubectl, write_kubeconfig
from payplat_dev.localpki import Pki, make_pki
from payplat_dev.processes import ManagedProcess, Say, _http_ok, free_port, sayer
from payplat_dev.testbin import find_bin_dir, missing_binaries, repo_root

__all__ = ["ClusterStartError", "LocalCluster"]

_START_TIMEOUT = 90.0


class ClusterStartError(RuntimeError):
    """The control plane did not come up; the message points at the log files."""


# --------------------------------------------------------------------------- the cluster


@dataclass(eq=False)  # identity semantics: two running clusters are never "equal"
class LocalCluster:
    """A running etcd + kube-apiserver pair and everything else started for it.

    Use ``with LocalCluster.start() as cluster:``; ``cluster.kubeconfig`` is an admin
    kubeconfig, ``cluster.kubectl(...)`` runs the real kubectl against it.
    """

    workdir: Path
    bin_dir: Path
    server: str
    pki: Pki
    kubeconfig: Path
    processes: list[ManagedProcess] = field(default_factory=list)
    owns_workdir: bool = True
    _stopped: bool = False

    # ---- lifecycle

    @classmethod
    def start(
        cls,
        bin_dir: Path | None = None,
        workdir: Path | None = None,
        crds: Path | None = None,
        log: IO[str] | None = None,
    ) -> LocalCluster:
        """Start etcd and kube-apiserver, wait for ``/readyz``, install ``crds``.

        ``crds`` defaults to the checkout's ``crds/`` folder; pass a missing path to skip.
        ``log`` receives one line per step (the demo passes stdout).
        """
        bin_dir = bin_dir or find_bin_dir()
        missing = missing_binaries(bin_dir)
        if missing:
            raise ClusterStartError(f"missing {', '.join(missing)} in {bin_dir}: run hack/testbin.sh to build them")
        owns = workdir is None
        workdir = workdir or Path(tempfile.mkdtemp(prefix="payplat-cluster-"))
        say = sayer(log)
        say(f"working folder (certificates, etcd data, logs): {workdir}")
        pki = make_pki(workdir / "pki")
        port = free_port()
        cluster = cls(
            workdir=workdir,
            bin_dir=bin_dir,
            server=f"https://127.0.0.1:{port}",
            pki=pki,
            kubeconfig=workdir / "kubeconfig",
            owns_workdir=owns,
        )
        exitcleanup.track(cluster)
        try:
            etcd_url = cluster._start_etcd(say)
            cluster._start_apiserver(etcd_url, port, say)
            cluster._write_kubeconfig(
                cluster.kubeconfig, user={"client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)}
            )
            crds = crds if crds is not None else _default_crds()
            if crds is not None and _has_manifests(crds):
                cluster.install_crds(crds, say)
            elif crds is not None:
                say(f"no CRD manifests in {crds}: not installing any")
        except BaseException:
            cluster.stop(keep_workdir=True)
            raise
        return cluster

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # Keep the logs when something failed; Ctrl-C or SIGTERM is a normal way to stop.
        failed = exc_type is not None and not issubclass(exc_type, (KeyboardInterrupt, SystemExit))
        self.stop(keep_workdir=failed)

    def stop(self, keep_workdir: bool = False) -> None:
        """Stop every process started through this cluster, newest first.

        The working folder (with the logs) is kept when something failed, and its path
        printed, so the failure can be read after the fact.
        """
        if self._stopped:
            return
        self._stopped = True
        for proc in reversed(self.processes):
            proc.stop(timeout=10)
        exitcleanup.untrack(self)
        if keep_workdir or not self.owns_workdir:
            print(f"[payplat] local cluster logs kept in {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- processes

    def spawn(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> ManagedProcess:
        """Start a process that lives no longer than this cluster (e.g. the operator)."""
        log_path = self.workdir / "logs" / f"{name}.log"
        if log_path.exists():  # a restarted operator gets its own log, old one kept
            log_path = log_path.with_name(f"{name}-{time.monotonic_ns()}.log")
        proc = ManagedProcess.start(name, argv, log_path, env=env, cwd=cwd)
        self.processes.append(proc)
        return proc

    def _start_etcd(self, say: Say) -> str:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        say(f"starting etcd on {url}")
        proc = self.spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=payplat",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=payplat=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(proc, lambda: _http_ok(f"{url}/health", None), "etcd /health")
        return url

    def _start_apiserver(self, etcd_url: str, port: int, say: Say) -> None:
        say(f"starting kube-apiserver on {self.server}")
        pki = self.pki
        proc = self.spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={pki.service_account_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                # 1.37 refuses a loopback advertise address for the `kubernetes` Service's
                # endpoints; nothing here needs that Service, so don't reconcile it.
                "--endpoint-reconciler-type=none",
                "--v=1",
            ],
        )
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._wait(proc, lambda: _http_ok(f"{self.server}/readyz", context), "kube-apiserver /readyz")
        say("kube-apiserver is ready")

    def _wait(self, proc: ManagedProcess, probe: Callable[[], bool], what: str) -> None:
        proc.wait_until(probe, what, timeout=_START_TIMEOUT, error=ClusterStartError)

    # ---- kubeconfigs

    def _write_kubeconfig(self, path: Path, user: dict[str, str], namespace: str | None = None) -> Path:
        return write_kubeconfig(path, self.server, self.pki.ca_cert, user, namespace)

    def create_token(self, namespace: str, service_account: str, duration: str = "2h") -> str:
        """A token for the ServiceAccount, issued by the API server's TokenRequest API."""
        return self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()

    def kubeconfig_for_token(self, token: str, namespace: str | None = None, name: str = "token") -> Path:
        """A kubeconfig that authenticates with ``token`` (and nothing else)."""
        path = self.workdir / f"kubeconfig-{name}-{time.monotonic_ns()}"
        return self._write_kubeconfig(path, user={"token": token}, namespace=namespace)

    # ---- kubectl

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; raises ``KubectlError`` if ``check``."""
        return run_kubectl(self.bin_dir, kubeconfig or self.kubeconfig, args, input=input, check=check, timeout=timeout)

    def apply(
        self, manifest: str | dict[str, Any] | list[dict[str, Any]], namespace: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` with a YAML string or parsed object(s)."""
        if not isinstance(manifest, str):
            docs = manifest if isinstance(manifest, list) else [manifest]
            manifest = yaml.safe_dump_all(docs)
        ns = ["-n", namespace] if namespace else []
        return self.kubectl("apply", *ns, "-f", "-", input=manifest, check=check)

    def get_json(self, *args: str, namespace: str | None = None) -> Any:
        ns = ["-n", namespace] if namespace else []
        return json.loads(self.kubectl("get", *args, *ns, "-o", "json").stdout)

    def create_namespace(self, prefix: str = "t") -> str:
        """A fresh namespace. Never waited on for deletion: without a controller
        manager a deleted namespace stays Terminating forever."""
        name = f"{prefix}-{os.urandom(4).hex()}"
        self.kubectl("create", "namespace", name)
        return name

    def install_crds(self, crds: Path, say: Say | None = None) -> None:
        """Apply the CRDs and wait until the API server serves them."""
        say = say or sayer(None)
        say(f"installing CRDs from {crds}")
        applied = self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds), "-o", "name")
        names = applied.stdout.split()
        # Not `kubectl wait`: it errors out on a CRD whose status has no conditions yet.
        deadline = time.monotonic() + 60
        while not all(crd_established(json.loads(self.kubectl("get", name, "-o", "json").stdout)) for name in names):
            if time.monotonic() > deadline:
                raise ClusterStartError(f"CRDs not Established after 60s: {', '.join(names)}")
            time.sleep(0.2)


def _default_crds() -> Path | None:
    root = repo_root()
    return root / "crds" if root else None


def _has_manifests(path: Path) -> bool:
    if path.is_file():
        return True
    return path.is_dir() and (any(path.glob("*.yaml")) or any(path.glob("*.yml")))
