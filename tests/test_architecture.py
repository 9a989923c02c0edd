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
    return {
        module
        for module, imports in MODULES.items()
        if any(name == prefix or name.startswith(prefix + ".") for name in imports)
    }


def _within(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize(
    "library,allowed",
    [
        # Only the real engine drives the Pulumi CLI.
        # (engines.pulumistack is the engine's stack preparation, split out of it.)
        (
            "pulumi.automation",
            ("payplat.engines.pulumi", "payplat.engines.pulumistack", "payplat.engines.command"),
        ),
        # Only the handlers and the process runner know kopf.
        # The handlers are split by concern into controller/handler*.py (the handlers, their
        # shared steps, the review, the drift timer): all of them speak kopf's types, so
        # the rule is by name; anything else in the controller stays kopf-free.
        (
            "kopf",
            (
                "payplat.controller.handlers",
                "payplat.controller.handlersteps",
                "payplat.controller.handlerreview",
                "payplat.controller.handlerdrift",
                "payplat.controller.runner",
            ),
        ),
        # One module for Kubernetes API calls (plus the Lease, which is its own concern).
        ("kubernetes", ("payplat.controller.kube", "payplat.controller.leadership")),
        # AWS resources are declared by the program, and only there.
        # plan, mocks and stackkeys live in program/ but must not load it (seconds).
        ("pulumi_aws", ("payplat.program",)),
        # CEL (organisation policies) is compiled and evaluated in one module.
        ("celpy", ("payplat.guardrails.celrules",)),
    ],
)
def test_each_outside_library_is_reached_from_one_place(library: str, allowed: tuple[str, ...]) -> None:
    offenders = sorted(m for m in _importers(library) if not _within(m, allowed))
    assert not offenders, f"{library} imported outside {allowed}: {offenders}"


#: Each package may import only the packages listed for it (and itself), in the order a
#: newcomer reads the tree: model -> program (+ guardrails) -> engines -> controller -> cli.
#: Data flows down this list; nothing earlier may reach back for something later. Finer
#: module rules follow the packages (a module's entry narrows its package's).
LAYERS: dict[str, tuple[str, ...]] = {
    # The CRD is generated from every model: the spec's, a change's shape (engines.base)
    # and the PaymentPlatformPolicy's (guardrails.orgpolicy). The rest of model imports
    # nothing of payplat outside model.
    "payplat.model": (),
    "payplat.model.identity": (),
    "payplat.model.yamlinput": (),
    "payplat.model.spec": (
        "payplat.model.identity",
        "payplat.model.limits",
        "payplat.model.specchecks",
        "payplat.model.parts",
    ),
    "payplat.model.tenancy": ("payplat.model.identity",),
    "payplat.guardrails": ("payplat.model",),
    "payplat.program": ("payplat.model", "payplat.guardrails"),
    "payplat.program.stackkeys": (),
    "payplat.program.mocks": ("payplat.model", "payplat.program.stackkeys"),
    "payplat.engines": ("payplat.model", "payplat.program"),
    "payplat.controller": ("payplat.model", "payplat.program", "payplat.guardrails", "payplat.engines"),
    # status turns operation results into conditions: no engine, no Kubernetes client.
    "payplat.controller.status": (
        "payplat.model",
        "payplat.program.stackkeys",
        "payplat.engines.base",
        "payplat.controller.redaction",
        "payplat.controller.conditions",
        "payplat.controller.statusevents",
    ),
    "payplat.controller.changecontrol": ("payplat.model", "payplat.engines.base"),
    # The CLI reaches every subcommand by module name (cli.SUBCOMMANDS), lazily.
    "payplat.cli": (),
}
#: The CRD generator's extra reach (see above).
CRD_READS = ("payplat.engines.base", "payplat.guardrails.orgpolicy")


@pytest.mark.parametrize("layer", list(LAYERS))
def test_data_flows_one_way(layer: str) -> None:
    allowed = (layer, *LAYERS[layer], *(CRD_READS if layer == "payplat.model" else ()))
    package_constants = {"payplat.API_GROUP", "payplat.API_VERSION", "payplat.KIND", "payplat.PLURAL"}
    wrong = {
        module: sorted(
            name
            for name in imports
            if name.startswith("payplat.") and not _within(name, allowed) and name not in package_constants
        )
        for module, imports in MODULES.items()
        if _within(module, (layer,))
    }
    wrong = {module: names for module, names in wrong.items() if names}
    assert not wrong, f"{layer} reaches outside {allowed}: {wrong}"


def test_pure_modules_do_no_io() -> None:
    """spec, status and the program's pure helpers are tested directly and fast: they
    must not pull in a client, an engine or the network."""
    io_libraries = ("kopf", "kubernetes", "pulumi.automation", "boto3", "aiohttp", "subprocess", "socket")
    pure = [m for m in MODULES if _within(m, ("payplat.model", "payplat.guardrails"))]
    pure += [
        "payplat.controller.status",
        "payplat.controller.changecontrol",
        "payplat.controller.changerecords",
        "payplat.program.naming",
        "payplat.program.policies",
        "payplat.program.stackkeys",
    ]
    pure += [
        m
        for m in ("payplat.controller.conditions", "payplat.controller.statusevents", "payplat.engines.pulumistate")
        if m in MODULES
    ]  # once split out
    for module in pure:
        used = sorted(name for name in MODULES[module] if _within(name, io_libraries))
        assert not used, f"{module} imports {used}"


def test_no_package_is_importable_as_operator() -> None:
    """The source folder is called operator/, but a top-level package of that name would
    shadow the standard library module."""
    import operator

    assert hasattr(operator, "itemgetter") and "site-packages" not in (operator.__file__ or "")


#: Runtime modules allowed to reach development tooling: none (the demo, which needs it,
#: moved to payplat_dev; the CLI reaches it by module name only).
DEV_TOOLING_USERS: tuple[str, ...] = ()


def test_runtime_code_never_imports_development_tooling() -> None:
    """payplat_dev (stand-in AWS provider, moto harness) is not installed with the
    package; a runtime import of it would break the image."""
    offenders = sorted(m for m in _importers("payplat_dev") if not _within(m, DEV_TOOLING_USERS))
    assert not offenders, f"runtime modules import payplat_dev: {offenders}"
    # The scan does see such imports (checked on the tooling itself, which has them).
    tooling = _imports(PACKAGE.parent / "payplat_dev" / "realengine.py")
    assert any(name.startswith("payplat_dev.") for name in tooling)


def test_the_program_s_light_modules_do_not_load_pulumi_aws() -> None:
    """``payplat plan``'s CLI, the mocks and the stack keys are imported by the CRD
    generator, the offline engine and the controller: pulumi_aws costs seconds to load."""
    light = (
        "payplat.program.__init__",
        "payplat.program.stackkeys",
        "payplat.program.mocks",
        "payplat.program.manifest",
        "payplat.program.plancli",
    )
    for module in (m for m in MODULES if m in light or m == "payplat.program"):
        used = sorted(name for name in MODULES[module] if _within(name, ("pulumi_aws", "payplat.program.build")))
        assert not used, f"{module} imports {used}"


def test_the_model_imports_nothing_later() -> None:
    """The model is what a PaymentPlatform is: it never reaches the program, an engine
    (beyond the change shape the CRD describes) or the controller."""
    later = ("payplat.program", "payplat.controller", "payplat.cli")
    wrong = {
        m: sorted(n for n in imports if _within(n, later))
        for m, imports in MODULES.items()
        if _within(m, ("payplat.model",))
    }
    assert not {m: n for m, n in wrong.items() if n}, wrong


ROOT = PACKAGE.parent
PACKAGES = sorted(path for path in ROOT.rglob("__init__.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("init", PACKAGES, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_each_package_says_what_it_owns(init: Path) -> None:
    """A newcomer opens a package's ``__init__`` first: its docstring says what the
    package owns and what it may import."""
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert len(doc) > 80, f"{init}: no docstring saying what the package owns"
    assert "may import" in doc.lower() or "imports nothing" in doc.lower(), (
        f"{init}: the docstring does not say what the package may import"
    )


LIMIT = 400


def test_no_module_over_400_lines() -> None:
    """Small modules with one job: a module past 400 lines is split by concern (no
    exceptions: the last ones were split in issue 14)."""
    lengths = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in sorted(ROOT.rglob("*.py"))
        if "__pycache__" not in p.parts
    }
    assert lengths, f"no modules found under {ROOT}"
    over = {name: n for name, n in lengths.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them by concern): {over}"


def test_a_development_subcommand_without_payplat_dev_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The image installs payplat only: ``payplat demo`` there (payplat_dev missing) is a
    clear message and exit 2, not a traceback."""
    from payplat import cli

    monkeypatch.setitem(cli.SUBCOMMANDS, "demo", ("payplat_dev.not_installed_here", "the demo"))
    assert cli.main(["demo"]) == 2
    assert "payplat demo needs a checkout (payplat_dev is not installed)" in capsys.readouterr().err
