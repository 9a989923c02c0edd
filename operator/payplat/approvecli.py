"""``payplat approve NAME``: show a platform's pending change, then approve its plan hash.

It does what the documented one-liner does (``kubectl annotate pp NAME
payplat.io/approve=<hash> --overwrite``), after printing the change so a person sees
what they approve. The annotation is written by a merge patch with the field manager
``payplat-approve`` (``--field-manager``), which is how the API server, and so the
operator's audit trail, records the approver. ``--hash`` approves only if the pending
plan still has that hash (what you reviewed elsewhere, e.g. in the plan ConfigMap).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from payplat.controller.changecontrol import APPROVE_ANNOTATION

__all__ = ["add_arguments", "command", "describe"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the PaymentPlatform")
    parser.add_argument("-n", "--namespace", default="default", help="its namespace (default: default)")
    parser.add_argument("--hash", dest="plan_hash", help="approve only if the pending plan has this hash")
    parser.add_argument(
        "--field-manager",
        default="payplat-approve",
        help="the name the API server records as the approver (default: payplat-approve)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def describe(status: Mapping[str, Any]) -> str:
    """The pending change as a person reads it (pure: status in, text out)."""
    pending = status.get("pendingChange") or {}
    lines = [
        f"plan {pending.get('planHash')}: "
        + (
            ", ".join(f"{count} to {op}" for op, count in (pending.get("changes") or {}).items() if count)
            or "no changes"
        )
    ]
    for item in pending.get("protected") or ():
        lines.append(f"  PROTECTED {item['kind']} {item['name']} would be {item['op']}d")
    for step in pending.get("replacedOrDeleted") or ():
        reason = f" (because {', '.join(step['reason'])} changed)" if step.get("reason") else ""
        lines.append(f"  {step['op']} {step['type']} {step['name']}{reason}")
    if pending.get("cost"):
        lines.append("  monthly cost: " + ", ".join(f"{k} {v}" for k, v in pending["cost"].items()))
    if pending.get("configMap"):
        lines.append(f"  full plan: kubectl get configmap {pending['configMap']} -o jsonpath='{{.data.plan\\.txt}}'")
    return "\n".join(lines)


def command(args: argparse.Namespace) -> int:
    from payplat.controller import kube

    obj = asyncio.run(kube.read_platform(args.namespace, args.name))
    if obj is None:
        print(f"PaymentPlatform {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    status = obj.get("status") or {}
    pending = status.get("pendingChange") or {}
    plan = pending.get("planHash")
    if status.get("phase") != "AwaitingApproval" or not plan:
        print(
            f"{args.namespace}/{args.name} has no change awaiting approval (phase {status.get('phase')})",
            file=sys.stderr,
        )
        return 1
    if args.plan_hash and args.plan_hash != plan:
        print(f"the pending plan is {plan}, not {args.plan_hash}: review it again", file=sys.stderr)
        return 1
    print(describe(status))
    if not args.yes and input(f"approve plan {plan}? [y/N] ").strip().lower() not in ("y", "yes"):
        return 1
    asyncio.run(kube.annotate_platform(args.namespace, args.name, {APPROVE_ANNOTATION: plan}, args.field_manager))
    print(json.dumps({"approved": plan, "by": args.field_manager}))
    return 0
