"""The package's shape, checked: data flows one way (manifest -> spec -> program ->
engines -> status -> handlers) and each outside library is reached from one place.

This is what kopf's import-linter contracts do; a small AST walk keeps it readable and
dependency-free. A failure names the module and the import that broke the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "operator" / "payplat"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at any depth (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _importers(prefix: str) -> set[str]:
    return {module for module, imports in MODULES.items()
            if any(name == prefix or name.startswith(prefix + ".") for name in imports)}


def _within(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize(
    "library,allowed",
    [
        # Only the real engine drives the Pulumi CLI.
        ("pulumi.automation", ("payplat.engines.pulumi", "payplat.engines.command")),
        # Only the handlers and the process runner know kopf.
        ("kopf", ("payplat.controller.handlers", "payplat.controller.runner")),
        # One module for Kubernetes API calls (plus the Lease, which is its own concern).
        ("kubernetes", ("payplat.controller.kube", "payplat.controller.leadership")),
        # AWS resources are declared by the program, and only there.
        ("pulumi_aws", ("payplat.program",)),
        # CEL (organisation policies) is compiled and evaluated in one module.
        ("celpy", ("payplat.guardrails.celrules",)),
    ],
)
def test_each_outside_library_is_reached_from_one_place(library: str, allowed: tuple[str, ...]) -> None:
    offenders = sorted(m for m in _importers(library) if not _within(m, allowed))
    assert not offenders, f"{library} imported outside {allowed}: {offenders}"


#: Each layer may import only the layers listed for it (and itself). Data flows down
#: this list; nothing earlier may reach back for something later.
LAYERS: dict[str, tuple[str, ...]] = {
    "payplat.model.identity": (),
    "payplat.model.spec": ("payplat.model.identity",),
    "payplat.program.stackkeys": (),
    "payplat.model.yamlinput": (),
    "payplat.model.tenancy": ("payplat.model.identity",),
    # Step 1 of issue 14 moved plan (which reads YAML and runs the review) into program/.
    "payplat.program": ("payplat.model.spec", "payplat.program.stackkeys", "payplat.model.identity", "payplat.model.tenancy",
                        "payplat.model.yamlinput", "payplat.guardrails"),
    "payplat.program.mocks": ("payplat.model.spec", "payplat.program.stackkeys"),
    "payplat.guardrails": ("payplat.model.spec",),
    "payplat.program.plan": ("payplat.model.spec", "payplat.program.stackkeys", "payplat.program", "payplat.program.mocks", "payplat.model.identity",
                     "payplat.model.yamlinput", "payplat.guardrails"),
    "payplat.engines": ("payplat.model.spec", "payplat.program.stackkeys", "payplat.program", "payplat.program.mocks", "payplat.program.plan",
                        "payplat.model.identity"),
    "payplat.controller.status": ("payplat.model.spec", "payplat.program.stackkeys", "payplat.engines.base", "payplat.controller.redaction"),
    "payplat.model.crd": ("payplat.model.spec", "payplat.engines.base", "payplat.guardrails.orgpolicy"),
    "payplat.controller.changecontrol": ("payplat.model.spec", "payplat.engines.base"),
    "payplat.controller.changerecords": ("payplat.model.spec", "payplat.engines.base", "payplat.controller.redaction", "payplat.controller.status",
                              "payplat.controller.changecontrol"),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_data_flows_one_way(layer: str) -> None:
    allowed = (layer, *LAYERS[layer])
    package_constants = {"payplat.API_GROUP", "payplat.API_VERSION", "payplat.KIND", "payplat.PLURAL"}
    wrong = {
        module: sorted(name for name in imports if name.startswith("payplat.") and not _within(name, allowed)
                       and name not in package_constants)
        for module, imports in MODULES.items()
        if _within(module, (layer,))
    }
    wrong = {module: names for module, names in wrong.items() if names}
    assert not wrong, f"{layer} reaches outside {allowed}: {wrong}"


def test_pure_modules_do_no_io() -> None:
    """spec, status and the program's pure helpers are tested directly and fast: they
    must not pull in a client, an engine or the network."""
    io_libraries = ("kopf", "kubernetes", "pulumi.automation", "boto3", "aiohttp", "subprocess", "socket")
    for module in ("payplat.model.spec", "payplat.controller.status", "payplat.model.identity", "payplat.model.tenancy", "payplat.program.naming",
                   "payplat.controller.changecontrol", "payplat.controller.changerecords",
                   "payplat.program.policies", *(m for m in MODULES if m.startswith("payplat.guardrails"))):
        used = sorted(name for name in MODULES[module] if _within(name, io_libraries))
        assert not used, f"{module} imports {used}"


def test_no_package_is_importable_as_operator() -> None:
    """The source folder is called operator/, but a top-level package of that name would
    shadow the standard library module."""
    import operator

    assert hasattr(operator, "itemgetter") and "site-packages" not in (operator.__file__ or "")


#: The only runtime-package module allowed to reach development tooling: the demo, which
#: runs the real engine against the stand-in provider and moto (``--engine pulumi``).
DEV_TOOLING_USERS = ("payplat_dev.demo",)


def test_runtime_code_never_imports_development_tooling() -> None:
    """payplat_dev (stand-in AWS provider, moto harness) is not installed with the
    package; a runtime import of it would break the image."""
    offenders = sorted(m for m in _importers("payplat_dev") if not _within(m, DEV_TOOLING_USERS))
    assert not offenders, f"runtime modules import payplat_dev: {offenders}"
    # The scan does see such imports (checked on the tooling itself, which has them).
    tooling = _imports(PACKAGE.parent / "payplat_dev" / "realengine.py")
    assert any(name.startswith("payplat_dev.") for name in tooling)
