"""The README is part of the product: its spec reference must cover every spec field,
and its test command must be the one CI runs."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from payplat.model.spec import PlatformSpec

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        paths.append(path)
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        for candidate in (annotation, *args):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                sep = "[]." if getattr(annotation, "__origin__", None) is list else "."
                paths.extend(_field_paths(candidate, f"{path}{sep}"))
    return paths


def test_every_spec_field_is_in_the_readme_reference() -> None:
    reference = README.split("## Spec reference", 1)[1]
    missing = [p for p in _field_paths(PlatformSpec) if p.rsplit(".", 1)[-1] not in reference]
    assert not missing, f"README spec reference lacks: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    assert "bash hack/test.sh" in README
    assert "exec bash hack/test.sh" in (ROOT / ".ci" / "run").read_text()
