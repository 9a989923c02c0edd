"""A real single-node Kubernetes cluster on this machine, for the in-cluster tests and
``hack/demo.sh --node`` (development tooling, not runtime code).

Users run the operator as a pod: an image, a ServiceAccount token, a read-only root
filesystem, probes, a PodDisruptionBudget. The host-process lane cannot show any of that,
so this harness runs what a cluster runs: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, containerd (runc, CNI bridge) and a kubelet, all built by
``hack/testbin.sh`` and ``hack/node.sh``, with the images of ``hack/image.sh`` imported
into containerd (there is no registry).

Isolation (why each piece is there):

* every process runs inside one mount + network namespace (``unshare -m -n``), held by a
  ``sleep`` process: the kubelet's mounts, the CNI bridge, pod network namespaces and
  every iptables rule stay there and vanish with it. Host paths the kubelet and CNI write
  to whatever their configuration (``/var/log/pods``, ``/var/lib/cni``, ``/run/netns``...)
  get a tmpfs inside the namespace.
* a veth pair gives the namespace an address (``node_ip``) the host reaches: the tests
  talk to the API server there, as a user's kubectl would.
* every process, and so every container, lives under one cgroup ``/payplat-node-<id>``
  in each hierarchy (the kubelet's ``cgroupRoot``): teardown kills what is in it and
  removes it, and touches no other process.
* the kubelet rewrites global kernel settings at start (``KERNEL_SETTINGS``): they are
  recorded before and restored after.

There is no kube-proxy: one DNAT rule inside the namespace sends the ``kubernetes``
Service's ClusterIP to the API server, which is all an operator pod needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from payplat_dev.kubectl import run_kubectl
from payplat_dev.localcluster import ClusterStartError
from payplat_dev.localpki import Pki, issue_cert, make_pki
from payplat_dev.processes import ManagedProcess, tail
from payplat_dev.testbin import find_bin_dir

ROOT = Path(__file__).resolve().parents[2]
NODE_NAME = "payplat-node"
CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
POD_CIDR = "10.244.0.0/24"
API_PORT = 6443
# Global (not per-namespace) settings kubelet 1.37 sets at every start (setupKernelTunables).
KERNEL_SETTINGS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Written by the kubelet or CNI at fixed paths: a tmpfs each, inside the mount namespace.
PRIVATE_PATHS = (
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/netns",
    "/run/containerd",
    "/var/lib/kubelet",
    "/run/nodeinfo",
    "/etc/cni/net.d",
)
NODE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "kubectl",
    "helm",
)
HOST_TOOLS = ("unshare", "nsenter", "ip", "iptables", "runc", "openssl")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
# hack/image.sh's archives: the sandbox, the operator (no-registry build), its test build
# with the stand-in AWS provider, and moto (the real engine's S3 and KMS).
IMAGES = ("pause", "operator", "operator-standin", "moto")
_PR_SET_PDEATHSIG = 1


class NodeUnavailable(RuntimeError):
    """This machine lacks something the node lane needs; the message names it."""


# --------------------------------------------------------------------------- preflight


def images_dir() -> Path:
    out = subprocess.run(
        ["bash", str(ROOT / "hack" / "image.sh"), "--print"], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def cni_bin_dir() -> Path | None:
    for candidate in CNI_BIN_DIRS:
        if all(os.access(Path(candidate) / p, os.X_OK) for p in CNI_PLUGINS):
            return Path(candidate)
    return None


def cgroup_mounts() -> list[Path]:
    """Every cgroup hierarchy mounted on this host (v1 controllers, named, unified)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append(Path(fields[4]))
    return sorted(set(mounts))


def missing_capabilities(bin_dir: Path, images: Path, names: Sequence[str] = IMAGES) -> list[str]:
    """What this machine lacks for a node, each with the step that provides it."""
    missing = [
        f"{name} (hack/node.sh, hack/testbin.sh)" for name in NODE_BINARIES if not os.access(bin_dir / name, os.X_OK)
    ]
    missing += [
        f"{tool} (apt-get install util-linux iproute2 iptables runc openssl)"
        for tool in HOST_TOOLS
        if shutil.which(tool) is None
    ]
    if cni_bin_dir() is None:
        missing.append(
            f"CNI plugins {', '.join(CNI_PLUGINS)} in {' or '.join(CNI_BIN_DIRS)} "
            "(apt-get install containernetworking-plugins)"
        )
    for archive in (f"{name}.oci.tar" for name in names):
        if not (images / archive).is_file():
            missing.append(f"{images / archive} (hack/image.sh)")
    if os.geteuid() != 0:
        missing.append("root (namespaces, cgroups, mounts)")
    if not cgroup_mounts():
        missing.append("a mounted cgroup hierarchy")
    return missing


# --------------------------------------------------------------------------- host snapshot


@dataclass(frozen=True)
class HostState:
    """What the node may touch on the host, to compare before and after a run."""

    kernel: dict[str, str]
    links: frozenset[str]
    mounts: frozenset[str]
    cgroups: frozenset[str]
    iptables: str
    paths: frozenset[str]

    @classmethod
    def capture(cls) -> HostState:
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
        return cls(
            kernel={k: read_kernel(k) for k in KERNEL_SETTINGS},
            links=frozenset(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()),
            mounts=frozenset(" ".join(m.split()[4:5] + m.split()[m.split().index("-") + 1 :][:1]) for m in mounts),
            cgroups=frozenset(str(p / d.name) for p in cgroup_mounts() for d in p.iterdir() if d.is_dir()),
            # Counters change on their own; the rules are what must be equal.
            iptables="\n".join(
                line for line in rules.splitlines() if line and not line.startswith("#") and not line.startswith(":")
            ),
            paths=frozenset(p for p in PRIVATE_PATHS if Path(p).exists()),
        )

    def differences(self, other: HostState) -> list[str]:
        """Human-readable differences from ``other`` (empty: nothing left behind)."""
        diffs = [
            f"kernel {k}: {self.kernel[k]} -> {other.kernel[k]}"
            for k in KERNEL_SETTINGS
            if self.kernel[k] != other.kernel[k]
        ]
        for what in ("links", "mounts", "cgroups", "paths"):
            before, after = getattr(self, what), getattr(other, what)
            diffs += [f"{what}: new {x}" for x in sorted(after - before)]
            diffs += [f"{what}: gone {x}" for x in sorted(before - after)]
        if self.iptables != other.iptables:
            diffs.append("iptables rules changed")
        return diffs


def read_kernel(key: str) -> str:
    return Path("/proc/sys", key).read_text().strip()


def write_kernel(key: str, value: str) -> None:
    Path("/proc/sys", key).write_text(value + "\n")


# --------------------------------------------------------------------------- the node


@dataclass(eq=False)
class NodeCluster:
    """A running single-node cluster; ``kubectl(...)``/``helm(...)`` act on it as admin."""

    workdir: Path
    bin_dir: Path
    images: Path
    node_ip: str
    host_ip: str
    veth: str
    cgroup_name: str
    kernel_before: dict[str, str]
    holder: ManagedProcess | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    created_dirs: list[Path] = field(default_factory=list)  # host mount points we made
    pki: Pki | None = None
    _stopped: bool = False

    @property
    def server(self) -> str:
        return f"https://{self.node_ip}:{API_PORT}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def cgroup_dirs(self) -> list[Path]:
        return [mount / self.cgroup_name for mount in cgroup_mounts()]

    # ---- lifecycle

    @classmethod
    def start(
        cls, say: Callable[[str], None] = lambda _m: None, images: Sequence[str] = ("pause", "operator")
    ) -> NodeCluster:
        """Start the whole cluster and wait until the node is Ready with ``images`` (of
        hack/image.sh) imported into containerd.

        Raises ``NodeUnavailable`` naming what this machine lacks (never a silent skip).
        """
        bin_dir, images_path = find_bin_dir(), images_dir()
        missing = missing_capabilities(bin_dir, images_path, tuple(dict.fromkeys(("pause", *images))))
        if missing:
            raise NodeUnavailable("the node lane needs: " + "; ".join(missing))
        ident = os.urandom(3).hex()
        subnet = _free_subnet()
        host_ip, node_ip = (str(ip) for ip in list(subnet.hosts())[:2])
        workdir = Path(tempfile.mkdtemp(prefix=f"pp-node-{ident}-", dir="/tmp"))
        node = cls(
            workdir=workdir,
            bin_dir=bin_dir,
            images=images_path,
            node_ip=node_ip,
            host_ip=host_ip,
            veth=f"ppn{ident}",
            cgroup_name=f"payplat-node-{ident}",
            kernel_before={k: read_kernel(k) for k in KERNEL_SETTINGS},
        )
        started = time.monotonic()
        try:
            node._make_cgroups()
            node._start_namespace(say)
            node._make_pki()
            node._start_control_plane(say)
            node._start_containerd(say)
            node._import_images(images, say)
            node._start_kubelet(say)
            node._wait_node_ready(say)
        except BaseException:
            node.stop(keep_logs=True)
            raise
        say(f"node Ready in {time.monotonic() - started:.0f}s")
        return node

    def __enter__(self) -> NodeCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.stop(keep_logs=exc_type is not None)

    def stop(self, keep_logs: bool = False) -> None:
        """Stop everything this node started and put the host back as it was.

        Order: the kubelet first (no restarts of what is killed next), then every process
        in the node's cgroup tree (containers, shims, containerd, control plane, the
        namespace holder: the namespaces and their tmpfs, bridge and rules go with it),
        then the cgroups, the veth's host end if still there, the kernel settings.
        """
        if self._stopped:
            return
        self._stopped = True
        for proc in self.processes:
            if proc.name == "kubelet":
                proc.stop(timeout=10)
        for proc in reversed(self.processes):
            proc.stop(timeout=5)
        self._kill_cgroup_tree()
        if self.holder is not None:
            self.holder.stop(timeout=5)
        self._remove_cgroups()
        subprocess.run(["ip", "link", "delete", self.veth], capture_output=True, check=False)
        for directory in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        for key, value in self.kernel_before.items():
            if read_kernel(key) != value:
                write_kernel(key, value)
        if keep_logs:
            print(f"[node] logs kept in {self.workdir}/logs")
            _remove_tree_except_logs(self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- cgroups

    def _make_cgroups(self) -> None:
        for path in self.cgroup_dirs:
            for sub in (path, path / "node"):
                sub.mkdir(exist_ok=True)
                for knob in ("cpuset.cpus", "cpuset.mems"):  # empty cpusets refuse tasks
                    if (sub / knob).exists() and not (sub / knob).read_text().strip():
                        (sub / knob).write_text((sub.parent / knob).read_text())

    def _cgroup_pids(self) -> set[int]:
        pids: set[int] = set()
        for path in self.cgroup_dirs:
            if path.is_dir():
                for procs in path.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError):
                        pids.update(int(p) for p in procs.read_text().split())
        return pids

    def _kill_cgroup_tree(self) -> None:
        deadline = time.monotonic() + 30
        while (pids := self._cgroup_pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        for proc in [*self.processes, *([self.holder] if self.holder else [])]:
            with contextlib.suppress(Exception):
                proc.popen.wait(timeout=5)

    def _remove_cgroups(self) -> None:
        for path in self.cgroup_dirs:
            if not path.is_dir():
                continue
            for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                path.rmdir()

    # ---- processes

    def _spawn(
        self, name: str, argv: Sequence[str], *, in_namespace: bool = True, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """Start ``argv`` in the node's cgroup (and namespaces), output to logs/<name>.log."""
        if in_namespace:
            assert self.holder is not None
            argv = ["nsenter", f"--target={self.holder.pid}", "--mount", "--net", "--", *argv]
        procs_files = [str(d / "node" / "cgroup.procs") for d in self.cgroup_dirs]

        def enter() -> None:
            # Runs in the child before exec: join the node's cgroups, die with the harness.
            pid = str(os.getpid())
            for procs in procs_files:
                with contextlib.suppress(OSError), open(procs, "w") as fh:
                    fh.write(pid)
            with contextlib.suppress(OSError):
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        path = f"{self.bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=enter,  # noqa: PLW1509 - writes a cgroup file, calls prctl
                env={**os.environ, "PATH": path, **(env or {})},
            )
        proc = ManagedProcess(name=name, popen=popen, log_path=log_path)
        if in_namespace:
            self.processes.append(proc)
        return proc

    def run_in_namespace(
        self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        assert self.holder is not None
        result = subprocess.run(
            ["nsenter", f"--target={self.holder.pid}", "--mount", "--net", "--", *argv],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
            env={**os.environ, "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}"},
        )
        if check and result.returncode != 0:
            raise ClusterStartError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def _wait(self, proc: ManagedProcess, probe: Callable[[], bool], what: str, timeout: float = 120) -> None:
        proc.wait_until(probe, what, timeout=timeout, error=ClusterStartError, interval=0.3)

    # ---- namespace and network

    def _start_namespace(self, say: Callable[[str], None]) -> None:
        say(f"namespaces (mount + network), veth {self.veth}: host {self.host_ip}, node {self.node_ip}")
        for private in PRIVATE_PATHS:  # a tmpfs needs a mount point; ours are removed at stop
            missing = [p for p in (Path(private), *Path(private).parents) if not p.exists()]
            for directory in reversed(missing):
                directory.mkdir()
                self.created_dirs.append(directory)
        script = "; ".join(
            [
                "set -e",
                *[f"mount -t tmpfs -o mode=0755 payplat-node {p}" for p in PRIVATE_PATHS],
                "ip link set lo up",
                "sysctl -q -w net.ipv4.ip_forward=1",  # this namespace's own setting
                "exec sleep infinity",
            ]
        )
        self.holder = self._spawn(
            "namespace",
            ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", script],
            in_namespace=False,
        )
        deadline = time.monotonic() + 20
        while not self._namespace_ready():
            if not self.holder.alive() or time.monotonic() > deadline:
                raise ClusterStartError(f"namespace holder failed: {tail(self.holder.log_text())}")
            time.sleep(0.1)
        peer = f"{self.veth}n"
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", str(self.holder.pid))
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        ns = self.run_in_namespace
        ns("ip", "link", "set", peer, "name", "eth0")
        ns("ip", "addr", "add", f"{self.node_ip}/30", "dev", "eth0")
        ns("ip", "link", "set", "eth0", "up")
        # Only the host end is reachable: a default route to it, never beyond (the host
        # does not forward for this subnet).
        ns("ip", "route", "add", "default", "via", self.host_ip)
        # The one Service pods use (no kube-proxy): the API server's ClusterIP.
        # PREROUTING for pods' traffic, OUTPUT for the node's own (kubelet, host network).
        for chain in ("PREROUTING", "OUTPUT"):
            ns(
                "iptables",
                "-t",
                "nat",
                "-A",
                chain,
                "-d",
                f"{KUBERNETES_SERVICE_IP}/32",
                "-p",
                "tcp",
                "--dport",
                "443",
                "-j",
                "DNAT",
                "--to-destination",
                f"{self.node_ip}:{API_PORT}",
            )

    def _namespace_ready(self) -> bool:
        assert self.holder is not None
        try:
            ns_mnt = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
            own_mnt = os.readlink("/proc/self/ns/mnt")
            if ns_mnt == own_mnt:
                return False
            with open(f"/proc/{self.holder.pid}/cmdline", "rb") as fh:
                return fh.read().startswith(b"sleep")
        except OSError:
            return False

    # ---- certificates and kubeconfigs

    def _make_pki(self) -> None:
        pki = make_pki(
            self.workdir / "pki",
            serving_sans=(
                f"IP:{self.node_ip}",
                f"IP:{KUBERNETES_SERVICE_IP}",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ),
        )
        self.pki = pki
        client = ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature,keyEncipherment"]
        for name, subject in (
            ("kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}"),
            ("controller-manager", "/CN=system:kube-controller-manager"),
            ("scheduler", "/CN=system:kube-scheduler"),
            ("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"),
        ):
            issue_cert(
                pki,
                self.workdir / "pki" / f"{name}.crt",
                self.workdir / "pki" / f"{name}.key",
                subject=subject,
                extensions=client,
            )
            self._kubeconfig(self.workdir / f"{name}.kubeconfig", "https://127.0.0.1:6443", name)
        issue_cert(
            pki,
            self.workdir / "pki" / "kubelet-serving.crt",
            self.workdir / "pki" / "kubelet-serving.key",
            subject=f"/O=system:nodes/CN=system:node:{NODE_NAME}",
            extensions=[
                f"subjectAltName=IP:{self.node_ip},DNS:{NODE_NAME}",
                "extendedKeyUsage=serverAuth",
                "keyUsage=critical,digitalSignature,keyEncipherment",
            ],
        )
        self._kubeconfig(self.kubeconfig, self.server, "admin")

    def _kubeconfig(self, path: Path, server: str, cert: str) -> None:
        assert self.pki is not None
        pki_dir = self.workdir / "pki"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "node", "cluster": {"server": server, "certificate-authority": str(self.pki.ca_cert)}}
                    ],
                    "users": [
                        {
                            "name": "user",
                            "user": {
                                "client-certificate": str(pki_dir / f"{cert}.crt"),
                                "client-key": str(pki_dir / f"{cert}.key"),
                            },
                        }
                    ],
                    "contexts": [{"name": "node", "context": {"cluster": "node", "user": "user"}}],
                    "current-context": "node",
                }
            )
        )
        path.chmod(0o600)

    # ---- control plane

    def _start_control_plane(self, say: Callable[[str], None]) -> None:
        assert self.pki is not None
        pki, bins, wd = self.pki, self.bin_dir, self.workdir
        say("etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
        etcd = self._spawn(
            "etcd",
            [
                str(bins / "etcd"),
                "--name=node",
                f"--data-dir={wd / 'etcd'}",
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(etcd, lambda: self._curl("http://127.0.0.1:2379/health"), "etcd /health")
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(bins / "kube-apiserver"),
                "--etcd-servers=http://127.0.0.1:2379",
                "--bind-address=0.0.0.0",
                f"--advertise-address={self.node_ip}",
                f"--secure-port={API_PORT}",
                f"--cert-dir={wd / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--kubelet-client-certificate={wd / 'pki' / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={wd / 'pki' / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={pki.ca_cert}",
                "--kubelet-preferred-address-types=InternalIP",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.service_account_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={CLUSTER_IP_RANGE}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--v=1",
            ],
        )
        self._wait(
            apiserver,
            lambda: self.kubectl("get", "--raw=/readyz", check=False).returncode == 0,
            "kube-apiserver /readyz",
        )
        self._spawn(
            "kube-controller-manager",
            [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={wd / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={wd / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={wd / 'controller-manager.kubeconfig'}",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(bins / "kube-scheduler"),
                f"--kubeconfig={wd / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={wd / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={wd / 'scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--v=1",
            ],
        )

    def _curl(self, url: str) -> bool:
        probe = (
            "import sys,urllib.request\ntry:\n urllib.request.urlopen(sys.argv[1], timeout=2)\n"
            "except Exception:\n sys.exit(1)"
        )
        return self.run_in_namespace("python3", "-c", probe, url, check=False).returncode == 0

    # ---- containerd and images

    def _start_containerd(self, say: Callable[[str], None]) -> None:
        say("containerd (runc, CNI bridge)")
        wd = self.workdir
        cni = cni_bin_dir()
        (wd / "cni").mkdir(exist_ok=True)
        (wd / "cni" / "10-payplat.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "payplat",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": "cni0",
                            "isGateway": True,
                            "ipMasq": True,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(wd / "cni-ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=2,
            )
        )
        pause = (self.images / "pause.ref").read_text().strip()
        (wd / "containerd.toml").write_text(f"""\
version = 3
root = "{wd / "containerd" / "root"}"
state = "/run/containerd"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{pause}"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{shutil.which("runc")}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{cni}"]
    conf_dir = "{wd / "cni"}"
""")
        containerd = self._spawn("containerd", [str(self.bin_dir / "containerd"), f"--config={wd / 'containerd.toml'}"])
        self._wait(containerd, lambda: self.ctr("version", check=False).returncode == 0, "containerd answering")

    @property
    def containerd_socket(self) -> Path:
        return self.workdir / "containerd.sock"

    def ctr(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run_in_namespace(
            str(self.bin_dir / "ctr"),
            f"--address={self.containerd_socket}",
            "--namespace=k8s.io",
            *args,
            check=check,
            timeout=timeout,
        )

    def _import_images(self, names: Sequence[str], say: Callable[[str], None]) -> None:
        for name in names:
            ref = (self.images / f"{name}.ref").read_text().strip()
            started = time.monotonic()
            self.ctr("images", "import", str(self.images / f"{name}.oci.tar"))
            say(f"imported {ref} into containerd ({time.monotonic() - started:.0f}s)")

    @property
    def operator_image(self) -> str:
        return (self.images / "operator.ref").read_text().strip()

    # ---- kubelet

    def _start_kubelet(self, say: Callable[[str], None]) -> None:
        say("kubelet")
        wd = self.workdir
        assert self.pki is not None
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.node_ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki.ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(wd / "pki" / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(wd / "pki" / "kubelet-serving.key"),
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            # This VM: cgroup v1 through a tmpfs (hybrid), no systemd, no CAP_SYS_RESOURCE.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "oomScoreAdj": 0,
            "cgroupRoot": f"/{self.cgroup_name}",
            "cgroupsPerQOS": True,
            "enforceNodeAllocatable": ["pods"],
            "podCIDR": POD_CIDR,
            "resolvConf": "",
            "clusterDomain": "cluster.local",
            "clusterDNS": [],
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            # A shared CI disk must not make the only node evict the pods under test.
            "evictionHard": {
                "memory.available": "50Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "serializeImagePulls": False,
            "registerNode": True,
        }
        (wd / "kubelet.yaml").write_text(yaml.safe_dump(config))
        kubelet = self._spawn(
            "kubelet",
            [
                str(self.bin_dir / "kubelet"),
                f"--config={wd / 'kubelet.yaml'}",
                f"--kubeconfig={wd / 'kubelet.kubeconfig'}",
                f"--root-dir={wd / 'kubelet'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={self.node_ip}",
                "--v=1",
            ],
        )
        self._wait(
            kubelet,
            lambda: self.kubectl("get", "node", NODE_NAME, check=False).returncode == 0,
            "node registered",
            timeout=120,
        )

    def _wait_node_ready(self, say: Callable[[str], None]) -> None:
        kubelet = next(p for p in self.processes if p.name == "kubelet")

        def ready() -> bool:
            out = self.kubectl(
                "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False
            )
            return out.stdout.strip() == "True"

        self._wait(kubelet, ready, "node Ready", timeout=180)
        # The ServiceAccount controller makes "default" in every namespace; pods need it.
        deadline = time.monotonic() + 60
        while self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode:
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    "no default ServiceAccount after 60s: kube-controller-manager "
                    f"log:\n{tail(self.processes[2].log_text())}"
                )
            time.sleep(0.5)
        say(f"node {NODE_NAME} Ready")

    # ---- clients

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl as cluster admin, from the host over the veth; raises
        ``KubectlError`` (stderr kept) if ``check``."""
        return run_kubectl(self.bin_dir, self.kubeconfig, args, input=input, check=check, timeout=timeout)

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "helm"), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={
                **os.environ,
                "HELM_CACHE_HOME": str(self.workdir / "helm"),
                "HELM_CONFIG_HOME": str(self.workdir / "helm"),
                "HELM_DATA_HOME": str(self.workdir / "helm"),
            },
        )
        if check and result.returncode != 0:
            raise ClusterStartError(f"helm {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def logs_dir(self) -> Path:
        return self.workdir / "logs"


# --------------------------------------------------------------------------- helpers


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterStartError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 in 10.213.0.0/16 that no host interface or route uses."""
    used = subprocess.run(
        ["ip", "-o", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=False
    ).stdout
    taken = [
        ipaddress.ip_network(word, strict=False)
        for line in used.splitlines()
        for word in line.split()[:1]
        if word[0].isdigit()
    ]
    for _ in range(100):
        candidate = ipaddress.ip_network(f"10.213.{random.randrange(256)}.{4 * random.randrange(64)}/30")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise ClusterStartError("no free /30 in 10.213.0.0/16 for the node's veth")


def _remove_tree_except_logs(workdir: Path) -> None:
    for child in workdir.iterdir():
        if child.name != "logs":
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


@contextlib.contextmanager
def running_node(say: Callable[[str], None] = lambda _m: None) -> Iterator[NodeCluster]:
    node = NodeCluster.start(say)
    with node:
        yield node
