"""The ``payplat plan`` subcommand: read a manifest and policies, run the program under mocks,
review the plan, and print it as a tree, a table or JSON. Bad input is one line per
problem on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

from payplat.guardrails import PlatformRef, Review, review
from payplat.guardrails.render import render_review
from payplat.model.yamlinput import MAX_BYTES
from payplat.program.manifest import ManifestError, _shown, read_manifest, read_policies
from payplat.program.plan import STACK_TYPE, Plan, PlannedResource, plan

#: ``payplat plan`` exit codes, documented for CI (README "Guardrails").
EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_BLOCKED = 0, 1, 2, 3


def render(result: Plan, output: str, checked: Review | None = None) -> str:
    """The plan in ``output`` format, with the guardrails' findings and cost when given."""
    if output == "json":
        document = result.to_json_dict()
        if checked is not None:
            document.update(checked.to_json_dict())
        return json.dumps(document, indent=2) + "\n"
    text = _tree(result) if output == "tree" else _table(result)
    return text if checked is None else text + "\n" + render_review(checked)


def _summary(result: Plan) -> str:
    custom = sum(1 for r in result.resources if r.custom)
    components = sum(1 for r in result.resources if not r.custom and r.type != STACK_TYPE)
    return f"stack {result.stack}: {custom} resources in {components} components"


def _tree(result: Plan) -> str:
    children: dict[str | None, list[PlannedResource]] = {}
    for resource in result.resources:
        children.setdefault(resource.parent, []).append(resource)
    lines = [_summary(result)]

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for index, resource in enumerate(kids):
            last = index == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{resource.type}  {resource.name}")
            walk(resource.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    return "\n".join(lines) + "\n"


def _table(result: Plan) -> str:
    rows = [("TYPE", "NAME", "ID")] + [(r.type, r.name, r.id or "") for r in result.resources if r.custom]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{t:<{widths[0]}}  {n:<{widths[1]}}  {i}".rstrip() for t, n, i in rows]
    lines += ["", _summary(result), "", "OUTPUTS"]
    lines += [f"{key}: {json.dumps(value, sort_keys=True)}" for key, value in sorted(result.outputs.items())]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="PaymentPlatform manifest (YAML, as for kubectl apply); '-' reads stdin")
    parser.add_argument(
        "-p",
        "--policy",
        action="append",
        default=[],
        metavar="FILE",
        help="PaymentPlatformPolicy YAML to check the plan against as well (repeatable)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "tree", "json"),
        default=None,
        help="table (default when stdout is not a terminal), tree (default on a terminal) or json (stable, for CI)",
    )


def command(args: argparse.Namespace) -> int:
    """Exit 0 with the plan, findings and cost on stdout; 3 when an unwaived critical
    finding would block the apply (the plan is still printed, the blocking rules on
    stderr); 2 for a bad manifest or policy file (messages on stderr, nothing on
    stdout); 1 if the program itself fails under mocks."""
    try:
        text = _read_stdin() if args.file == "-" else _read(args.file)
        manifest = read_manifest(text)
        policies = [policy for path in getattr(args, "policy", []) for policy in read_policies(_read(path), path)]
    except ManifestError as error:
        _errors(error.problems)
        return EXIT_INVALID
    except (RecursionError, MemoryError) as error:  # a last line of defence: never a traceback
        _errors([f"manifest: too large or too deeply nested to read ({type(error).__name__})"])
        return EXIT_INVALID
    output = args.output or ("tree" if sys.stdout.isatty() else "table")
    try:
        result = plan(manifest.spec, name=manifest.name, stack=manifest.stack, namespace=manifest.namespace)
    except Exception as error:  # noqa: BLE001 - reported as one line, never a traceback
        _errors([f"plan failed: {type(error).__name__}: {error}"])
        return EXIT_FAILED
    platform = PlatformRef(
        name=manifest.name, namespace=manifest.namespace, labels=manifest.labels, region=manifest.spec.region
    )
    checked = review(result.resources, manifest.spec, platform, annotations=manifest.annotations, policies=policies)
    sys.stdout.write(render(result, output, checked))
    if checked.blocking:
        _errors(
            [
                f"blocked by {f.severity.value} rule {f.rule}: {f.resource} ({f.field}): {f.message}"
                for f in checked.blocking
            ]
        )
        return EXIT_BLOCKED
    return EXIT_OK


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(MAX_BYTES + 1)  # one byte more than allowed is enough to refuse it
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise ManifestError([f"{_shown(path, 200)}: cannot read: {reason}"]) from None


def _read_stdin() -> str:
    try:
        return sys.stdin.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError([f"stdin: cannot read: {type(error).__name__}"]) from None


#: At most this many problems, each at most MAX_LINE characters: stderr stays readable.
MAX_PROBLEMS = 20


MAX_LINE = 400


def _errors(problems: Iterable[str]) -> None:
    listed = list(problems)
    for problem in listed[:MAX_PROBLEMS]:
        line = " ".join(problem.split())
        if len(line) > MAX_LINE:
            line = line[: MAX_LINE - 3] + "..."
        print(f"error: {line}", file=sys.stderr)
    if len(listed) > MAX_PROBLEMS:
        print(f"error: ... and {len(listed) - MAX_PROBLEMS} more problems", file=sys.stderr)
