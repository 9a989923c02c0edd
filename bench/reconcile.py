"""How fast and how heavy the operator is on a real API server. Prints figures; asserts nothing.

    python bench/reconcile.py [--latency-count 20] [--burst-count 50]

On the local control plane (``payplat_dev.localcluster``, binaries from ``hack/testbin.sh``):

1. apply-to-Ready latency, one platform at a time (p50/p95 over ``--latency-count``),
   for ``payplat run`` (offline engine) and for ``bench/floor_operator.py``, a kopf
   operator that only patches status: the framework's floor;
2. the time for ``--burst-count`` platforms applied at once to all be Ready;
3. the operator's memory (RSS of its process tree, from /proc) idle and with the burst.

Ready is observed through a watch (not polling), stamped when the event arrives.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from payplat.controller.settings import Settings
from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import operator_env, start_operator
from payplat_dev.processes import ManagedProcess

GROUP, VERSION, PLURAL = "payplat.io", "v1alpha1", "paymentplatforms"
HERE = Path(__file__).resolve().parent


class ReadyWatcher:
    """Stamps the moment each platform's Ready condition turns True for its generation."""

    def __init__(self, api: client.CustomObjectsApi, namespace: str) -> None:
        self._api, self._namespace = api, namespace
        self._ready: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(
                    self._api.list_namespaced_custom_object, GROUP, VERSION, self._namespace, PLURAL, timeout_seconds=30
                )
                for event in stream:
                    self._see(event["object"])
                    if self._stop.is_set():
                        return
            except Exception:  # noqa: BLE001 - a broken stream is re-opened; at shutdown, ignored
                time.sleep(0.2)

    def _see(self, obj: dict[str, Any]) -> None:
        generation = obj["metadata"].get("generation")
        for cond in obj.get("status", {}).get("conditions", []):
            if (
                cond.get("type") == "Ready"
                and cond.get("status") == "True"
                and cond.get("observedGeneration", generation) == generation
            ):
                with self._cond:
                    self._ready.setdefault(obj["metadata"]["name"], time.monotonic())
                    self._cond.notify_all()

    def wait(self, names: list[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(n in self._ready for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if n not in self._ready]
                    raise TimeoutError(f"not Ready after {timeout:.0f}s: {missing[:5]}...")
                self._cond.wait(left)
            return {n: self._ready[n] for n in names}

    def close(self) -> None:
        self._stop.set()


def platform(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "PaymentPlatform", "metadata": {"name": name}, "spec": {}}


def latencies(api: client.CustomObjectsApi, namespace: str, count: int, prefix: str) -> tuple[float, list[float]]:
    """One platform at a time: apply, wait for Ready, next. The first one (returned apart)
    also pays for start-up: the watch being established, first imports."""
    watcher = ReadyWatcher(api, namespace)
    try:
        out = []
        for i in range(count + 1):
            name = f"{prefix}-{i}"
            start = time.monotonic()
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, platform(name))
            out.append(watcher.wait([name], timeout=300)[name] - start)
        return out[0], out[1:]
    finally:
        watcher.close()


def burst(api: client.CustomObjectsApi, namespace: str, count: int, proc: ManagedProcess) -> tuple[float, int]:
    """``count`` platforms created back to back; seconds until the last is Ready, peak RSS."""
    watcher = ReadyWatcher(api, namespace)
    peak = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, rss_kib(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        names = [f"burst-{i}" for i in range(count)]
        start = time.monotonic()
        for name in names:
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, platform(name))
        ready = watcher.wait(names, timeout=900)
        return max(ready.values()) - start, peak
    finally:
        sampling.set()
        sampler.join()
        watcher.close()


def rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants (the engine may run helpers)."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(first: float, values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values) * 1000:6.0f} ms   p95 {pct(values, 0.95) * 1000:6.0f} ms   "
        f"max {max(values) * 1000:6.0f} ms   (first, cold: {first * 1000:.0f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-count", type=int, default=20)
    parser.add_argument("--burst-count", type=int, default=50)
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="the operator's concurrency limit (default: its own default)"
    )
    args = parser.parse_args()

    with LocalCluster.start(log=sys.stderr) as cluster:
        config.load_kube_config(str(cluster.kubeconfig))
        api = client.CustomObjectsApi()

        floor_ns = cluster.create_namespace("floor")
        floor = cluster.spawn(
            "floor-operator",
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--namespace",
                floor_ns,
                str(HERE / "floor_operator.py"),
            ],
            env=operator_env(cluster, cluster.workdir / "unused"),
        )
        floor_lat = latencies(api, floor_ns, args.latency_count, "floor")
        floor.stop()

        ns = cluster.create_namespace("bench")
        extra = {"PAYPLAT_MAX_CONCURRENT_OPERATIONS": str(args.max_concurrent)} if args.max_concurrent else {}
        operator = start_operator(cluster, cluster.workdir / "state", env=extra).process
        time.sleep(10)  # past start-up: imports, CRD discovery, first (empty) list
        idle_rss = rss_kib(operator.pid)
        burst_s, peak_rss = burst(api, cluster.create_namespace("burst"), args.burst_count, operator)
        time.sleep(2)
        settled_rss = rss_kib(operator.pid)
        payplat_lat = latencies(api, ns, args.latency_count, "lat")
        if not operator.alive():
            print(f"operator died; log: {operator.log_path}", file=sys.stderr)
            return 1

    n, b = args.latency_count, args.burst_count
    print(f"\napply -> Ready, one at a time, {n} platforms (after a warm-up one):")
    print(f"  kopf floor (status patch only)   {fmt(*floor_lat)}")
    print(f"  payplat run (offline engine)     {fmt(*payplat_lat)}")
    print(
        f"\n{b} platforms applied at once -> all Ready: {burst_s:.1f} s "
        f"(concurrency limit {args.max_concurrent or Settings().max_concurrent_operations})"
    )
    print("\noperator RSS (process tree):")
    print(f"  idle                    {idle_rss / 1024:7.1f} MiB")
    print(f"  peak during {b:>3} burst  {peak_rss / 1024:7.1f} MiB")
    print(f"  with {b:>3} Ready          {settled_rss / 1024:7.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
