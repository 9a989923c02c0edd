"""The real engine's cost against its floor. Prints figures; asserts nothing.

    python bench/real_engine.py [--rounds 2] [--example examples/minimal.yaml] [--no-rss]

Everything runs for real here except AWS: the Pulumi CLI from hack/pulumi-cli.sh, the
stand-in AWS provider, moto as the S3 state backend and KMS secrets provider
(``payplat_dev.realengine``). In one run, side by side:

1. ``PulumiEngine`` (what the operator calls): first ``up``, no-op ``up``, drift check
   (refresh + preview), ``destroy`` of the example;
2. the floor: the bare Automation API doing the same with the same program, backend and
   secrets provider (``create_or_select_stack``, config, ``up``, ``up``, ``refresh`` +
   ``preview``, ``destroy``) with nothing of ours around it;
3. ``--rss``: the operator (``payplat run``, real engine, local control plane) with 4
   platforms in flight at once: RSS of the operator process alone and of its process
   tree (the CLIs and stand-in providers it started).

Rounds alternate engine and floor so machine noise hits both alike; the median is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "operator"), str(HERE)]

from payplat.engines.base import StackRef, StackSecrets  # noqa: E402
from payplat.engines.pulumi import PulumiEngine  # noqa: E402
from payplat.model.parsing import parse_spec  # noqa: E402
from payplat.model.spec import PlatformSpec  # noqa: E402
from payplat_dev.moto import MotoServer, start_moto  # noqa: E402
from payplat_dev.realengine import RealEngineKit, missing_pieces  # noqa: E402

PASSWORD = "bench-Password-0123456789"
OPS = ("first up", "no-op up", "drift check", "destroy")


def load_example(path: Path) -> tuple[str, PlatformSpec]:
    import yaml

    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "PaymentPlatform"]
    name = doc["metadata"]["name"]
    return name, parse_spec(doc.get("spec") or {}, name=name)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def engine_round(kit: RealEngineKit, workdir: Path, name: str, spec: PlatformSpec, stack_ns: str) -> dict[str, float]:
    engine = PulumiEngine(
        workdir / "engine-state",
        backend_url=kit.backend_url,
        secrets_provider=kit.secrets_provider,
        log=logging.getLogger("bench.engine"),
    )
    ref, secrets = StackRef(stack_ns, name), StackSecrets(db_password=PASSWORD)
    return {
        "first up": timed(lambda: asyncio.run(engine.up(ref, spec, secrets))),
        "no-op up": timed(lambda: asyncio.run(engine.up(ref, spec, secrets))),
        "drift check": timed(lambda: asyncio.run(engine.detect_drift(ref, spec, secrets))),
        "destroy": timed(lambda: asyncio.run(engine.destroy(ref, spec))),
    }


def floor_round(kit: RealEngineKit, workdir: Path, name: str, spec: PlatformSpec, stack_ns: str) -> dict[str, float]:
    """The bare Automation API, as its documentation shows it."""
    from pulumi import automation as auto

    from payplat.program.build import make_program
    from payplat.program.stackkeys import PASSWORD_CONFIG_KEY, PROJECT

    stack_name = StackRef(stack_ns, name).stack_name
    work = workdir / "floor-workspace"
    work.mkdir(parents=True, exist_ok=True)

    def select() -> Any:
        stack = auto.create_or_select_stack(
            stack_name=stack_name,
            project_name=PROJECT,
            program=make_program(spec, namespace=stack_ns, name=name),
            opts=auto.LocalWorkspaceOptions(
                work_dir=str(work),
                secrets_provider=kit.secrets_provider,
                project_settings=auto.ProjectSettings(
                    name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=kit.backend_url)
                ),
            ),
        )
        stack.set_all_config(
            {"aws:region": auto.ConfigValue(spec.region), PASSWORD_CONFIG_KEY: auto.ConfigValue(PASSWORD, secret=True)}
        )
        return stack

    def drift() -> None:
        stack = select()
        stack.refresh()
        stack.preview()

    def destroy() -> None:
        stack = select()
        stack.destroy()
        stack.workspace.remove_stack(stack_name)

    return {
        "first up": timed(lambda: select().up()),
        "no-op up": timed(lambda: select().up()),
        "drift check": timed(drift),
        "destroy": timed(destroy),
    }


def operator_rss(moto: MotoServer, workdir: Path, in_flight: int) -> tuple[float, float, float]:
    """(idle operator, peak operator process, peak process tree) in MiB with ``in_flight`` ups at once."""
    from reconcile import rss_kib

    from payplat_dev.localcluster import LocalCluster
    from payplat_dev.operatorproc import start_operator

    kit = RealEngineKit(moto, workdir / "rss-kit", prefix="rss")
    with LocalCluster.start(log=sys.stderr) as cluster:
        ns = cluster.create_namespace("rss")
        env = {
            **kit.env(),
            "PAYPLAT_MAX_CONCURRENT_OPERATIONS": str(in_flight),
            "PAYPLAT_NAMESPACES": ns,
            "PAYPLAT_LEASE_NAMESPACE": ns,
        }
        operator = start_operator(cluster, workdir / "rss-state", env=env).process
        time.sleep(10)
        idle = _own_rss(operator.pid)
        peaks = [0, 0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peaks[0] = max(peaks[0], _own_rss(operator.pid))
                peaks[1] = max(peaks[1], rss_kib(operator.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        names = [f"rss-{i}" for i in range(in_flight)]
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "payplat.io/v1alpha1",
                        "kind": "PaymentPlatform",
                        "metadata": {"name": n},
                        "spec": {},
                    }
                    for n in names
                ],
            },
            namespace=ns,
        )
        cluster.kubectl(
            "wait", "--for=condition=Ready", "paymentplatforms", "--all", "-n", ns, "--timeout=600s", timeout=660
        )
        done.set()
        sampler.join()
    return idle / 1024, peaks[0] / 1024, peaks[1] / 1024


def _own_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--example", type=Path, default=HERE.parent / "examples" / "minimal.yaml")
    parser.add_argument("--rss", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args()
    missing = missing_pieces()
    if missing:
        print("bench/real_engine.py needs: " + "; ".join(missing), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    name, spec = load_example(args.example)
    workdir = Path(tempfile.mkdtemp(prefix="payplat-bench-real-"))
    moto = start_moto(workdir / "moto.log")
    try:
        kit = RealEngineKit(moto, workdir / "kit", prefix="bench")
        saved = dict(os.environ)
        os.environ.update(
            {k: v for k, v in kit.env().items() if not k.startswith("PAYPLAT_") or k.startswith("PAYPLAT_STANDIN")}
        )
        try:
            engine_runs, floor_runs = [], []
            for i in range(args.rounds):
                engine_runs.append(engine_round(kit, workdir / f"e{i}", name, spec, f"engine{i}"))
                floor_runs.append(floor_round(kit, workdir / f"f{i}", name, spec, f"floor{i}"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        creates = len(kit.cloud.creates_by_urn(StackRef("engine0", name).stack_name))
        print(
            f"\n{args.example.name}: {creates} cloud resources; median of {args.rounds} round(s); "
            "moto S3 backend + awskms, stand-in provider"
        )
        print(f"  {'operation':<12} {'PulumiEngine':>13} {'bare Automation API':>20} {'overhead':>9}")
        for op in OPS:
            mine = statistics.median(r[op] for r in engine_runs)
            floor = statistics.median(r[op] for r in floor_runs)
            print(f"  {op:<12} {mine:>11.2f} s {floor:>18.2f} s {100 * (mine - floor) / floor:>+8.1f}%")
        if args.rss:
            idle, own, tree = operator_rss(moto, workdir, args.in_flight)
            print(f"\noperator RSS, real engine, {args.in_flight} operations in flight:")
            print(f"  operator process idle          {idle:7.1f} MiB")
            print(f"  operator process, peak         {own:7.1f} MiB")
            print(f"  process tree (CLIs, providers) {tree:7.1f} MiB")
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
