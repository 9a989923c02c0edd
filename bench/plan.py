"""Benchmark of the offline plan (not a test: prints figures, asserts nothing).

    python bench/plan.py [--repeat N]

Prints, in one run:
- the warm plan time of examples/platform.yaml (3 services) and of a generated
  30-service spec (median of N warm runs, after one cold run that pays for imports);
- the registration cost of the same program against a floor: the same pulumi_aws
  resources with the same resolved inputs registered flat (no component wiring, no
  Outputs, no applies, no transformations) through the very same mocks and recording
  harness, and the ratio of the two.

Goals: warm 3-service plan < 0.6 s; program / floor < 1.3x.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.manifest import read_manifest
from payplat.program.plan import Plan, plan, plan_program

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "platform.yaml"
IMAGE = "docker.io/traefik/whoami:v1.10.3"


def thirty_services() -> PlatformSpec:
    services = [
        {
            "name": f"svc-{i:02d}",
            "image": IMAGE,
            "command": ["--port", "8080"],
            "public": i < 3,
            "secrets": [{"name": "DB_PASSWORD", "key": "password"}] if i % 2 else [],
        }
        for i in range(30)
    ]
    return parse_spec({"network": {"availabilityZones": 3, "natGateways": "PerAZ"}, "services": services}, name="bench")


def median_seconds(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of warm runs. CPU time (the whole process: the plan
    runs on a worker thread) is the figure to trust on a busy machine."""
    run()  # warm: imports, first-time caches
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def floor_program(result: Plan) -> Callable[[], None]:
    """The floor: the very same pulumi_aws resources with the same (already resolved)
    inputs, registered flat: no components' children wiring, no Outputs, no applies, no
    transformations. Components stay as bare ComponentResources so the count matches."""
    import importlib

    import pulumi

    def resource_class(token: str) -> type:
        package, module_and_type, class_name = token.split(":")
        module = module_and_type.split("/")[0]
        if package == "pulumi" and module == "providers":
            return importlib.import_module(f"pulumi_{class_name}").Provider
        return getattr(importlib.import_module(f"pulumi_{package}.{module}"), class_name)

    registrations = [
        (resource_class(r.type) if r.custom else None, r.type, r.name, {_snake(k): v for k, v in r.inputs.items()})
        for r in result.resources
        if r.type != "pulumi:pulumi:Stack"
    ]

    def program() -> None:
        for cls, token, name, inputs in registrations:
            if cls is None:
                pulumi.ComponentResource(token, name)
            else:
                cls(name, **inputs)

    return program


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat

    manifest = read_manifest(EXAMPLE.read_text())
    cases = [
        ("examples/platform.yaml (3 services)", manifest.spec, manifest.name, manifest.stack),
        ("generated spec (30 services)", thirty_services(), "bench", "default-bench"),
    ]
    started = time.perf_counter()
    plan(manifest.spec, name=manifest.name, stack=manifest.stack)
    print(f"cold first plan (imports included): {time.perf_counter() - started:.2f} s wall")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for label, spec, name, stack in cases:
        result = plan(spec, name=name, stack=stack)
        registered = sum(1 for r in result.resources if r.type != "pulumi:pulumi:Stack")
        program_time = median_seconds(lambda: plan(spec, name=name, stack=stack), repeat)
        floor_time = median_seconds(
            lambda: plan_program(floor_program(result), region=spec.region, stack=stack), repeat
        )
        print(f"{label}: {registered} registrations            wall        cpu")
        print(
            f"  warm plan           {program_time[0] * 1000:8.1f} ms {program_time[1] * 1000:8.1f} ms"
            f"  ({program_time[0] / registered * 1000:.2f} ms/resource wall)"
        )
        print(f"  floor (bare)        {floor_time[0] * 1000:8.1f} ms {floor_time[1] * 1000:8.1f} ms")
        print(
            f"  program / floor     {program_time[0] / floor_time[0]:8.2f} x  {program_time[1] / floor_time[1]:8.2f} x"
        )


if __name__ == "__main__":
    main()
