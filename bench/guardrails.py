"""Benchmark of the guardrails (not a test: prints figures, asserts nothing).

    python bench/guardrails.py [--repeat N]

Prints, in one run, for examples/platform.yaml (3 services), the same with a 300 kB hostile
environment value, and the generated 30-service spec of bench/plan.py:
- the floor: a warm plan (the same median-of-N measure bench/plan.py uses);
- the review alone (built-in pack, the organisation policy of
  examples/policies/org-baseline.yaml in CEL, waivers, cost estimate, budget) of that plan;
- the review's share of plan + review.

Goal: the review adds at most 10 % to a warm plan of the 30-service spec.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from plan import EXAMPLE, median_seconds, thirty_services  # bench/plan.py (this script's folder)

from payplat.guardrails import PlatformRef, review
from payplat.model.parts import BudgetSpec
from payplat.program.manifest import read_manifest, read_policies
from payplat.program.plan import plan

POLICY = Path(__file__).resolve().parents[1] / "examples" / "policies" / "org-baseline.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat

    policies = read_policies(POLICY.read_text(), str(POLICY))
    manifest = read_manifest(EXAMPLE.read_text())
    spec30 = thirty_services().model_copy(update={"budget": BudgetSpec(monthly_limit=500)})  # over: a finding
    # A hostile environment value (300 kB the credential pattern must scan): the review
    # stays linear in it (every repetition in the pattern is bounded).
    first_service = manifest.spec.services[0]
    hostile_service = first_service.model_copy(
        update={"environment": {**first_service.environment, "HOSTILE": "eyJ-" * 75_000}}
    )
    hostile = manifest.spec.model_copy(update={"services": [hostile_service, *manifest.spec.services[1:]]})
    cases = [
        ("examples/platform.yaml (3 services)", manifest.spec, manifest.name, manifest.stack),
        ("examples/platform.yaml + a 300 kB hostile environment value", hostile, manifest.name, manifest.stack),
        ("generated spec (30 services)", spec30, "bench", "default-bench"),
    ]
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for label, spec, name, stack in cases:
        planned = plan(spec, name=name, stack=stack)
        platform = PlatformRef(name, stack.split("-", 1)[0], {}, spec.region)

        def check() -> object:
            return review(planned.resources, spec, platform, policies=policies)

        started = time.perf_counter()
        checked = review(planned.resources, spec, platform, policies=policies)
        first = time.perf_counter() - started
        floor = median_seconds(lambda: plan(spec, name=name, stack=stack), repeat)
        cost = median_seconds(check, repeat)
        print(
            f"{label}: {len(planned.resources)} resources, {len(checked.findings)} findings, "
            f"{checked.cost.monthly:.2f} USD/month          wall        cpu"
        )
        print(f"  warm plan (floor)      {floor[0] * 1000:8.1f} ms {floor[1] * 1000:8.1f} ms")
        print(
            f"  review                 {cost[0] * 1000:8.1f} ms {cost[1] * 1000:8.1f} ms"
            f"  (first, CEL compiled: {first * 1000:.1f} ms)"
        )
        print(
            f"  review / warm plan     {cost[0] / floor[0] * 100:8.1f} %  {cost[1] / floor[1] * 100:8.1f} %"
            "   (goal <= 10 %)"
        )


if __name__ == "__main__":
    main()
