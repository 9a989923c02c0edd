"""The ``payplat`` command. Each subcommand lives in the module that owns its concern;
this file only wires them to argparse, importing lazily so ``payplat plan`` never pays
for kopf and ``payplat run`` never pays for the plan renderers.

Every subcommand module exposes ``add_arguments(parser)`` and ``command(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "plan": ("payplat.program.plancli", "Run the Pulumi program for a manifest under mocks: no AWS, no cluster."),
    "crd": ("payplat.model.crd", "Print the PaymentPlatform CustomResourceDefinition generated from the spec model."),
    "run": ("payplat.controller.runner", "Start the operator."),
    "approve": ("payplat.approvecli", "Show a platform's change awaiting approval and approve its plan hash."),
    "demo": (
        "payplat_dev.demo",
        "Start a local control plane, the operator (offline or real Pulumi engine) and the examples.",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        # Build only the chosen subcommand's parser: importing every module costs seconds.
        module_name, help_text = SUBCOMMANDS[argv[0]]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # payplat_dev (the demo's harness) is not installed with the package or the image.
            if not module_name.startswith("payplat_dev.") or error.name not in ("payplat_dev", module_name):
                raise
            print(f"payplat {argv[0]} needs a checkout (payplat_dev is not installed)", file=sys.stderr)
            return 2
        parser = argparse.ArgumentParser(prog=f"payplat {argv[0]}", description=help_text)
        module.add_arguments(parser)
        return int(module.command(parser.parse_args(argv[1:])) or 0)
    parser = argparse.ArgumentParser(prog="payplat", description="PaymentPlatform operator.")
    parser.add_argument(
        "subcommand", choices=list(SUBCOMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in SUBCOMMANDS.items())
    )
    parser.parse_args(argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
