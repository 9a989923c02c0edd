"""Bounded, JSON-faithful YAML reading: each attack the review found, refused with a line."""

from __future__ import annotations

import pytest

from payplat.model.yamlinput import MAX_BYTES, MAX_DEPTH, YamlInputError, load_documents

BOMB = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x: " + "[" * 2000 + "]" * 2000, f"nested deeper than {MAX_DEPTH} levels"),  # a RecursionError before
        (BOMB, "more than 100000 values once its aliases are expanded"),  # 522 MB of output before
        ("x: !!binary aGVsbG8=", "!!binary has no JSON value"),
        ("x: !!set {a, b}", "!!set has no JSON value"),
        ("x: !!python/object:os.system {}", "has no JSON value"),
        ("x: .inf", "not a JSON number"),
        ("x: 1\nx: 2", "line 2: duplicate key x"),
        ("? [a, b]\n: c", "map keys must be strings"),
        ("x: &a [*a]", "an alias refers to itself"),
        ("a: \x0b", "not valid YAML"),
        ("x" * (MAX_BYTES + 1), "KiB a manifest may have"),
    ],
)
def test_hostile_yaml_is_refused_with_what_and_where(text: str, expected: str) -> None:
    with pytest.raises(YamlInputError, match=expected.replace("(", r"\(").replace("!", "!")):
        load_documents(text)


def test_a_syntax_error_on_a_password_line_never_quotes_it() -> None:
    for text in (
        "password: hunter2-pw\n  oops: [",
        "password: *hunter2-pw\n",
        'password: "hunter2-pw\n',
        "password: hunter2-pw: x\n",
    ):
        with pytest.raises(YamlInputError) as caught:
            load_documents(text)
        assert "hunter2" not in str(caught.value) and "line" in str(caught.value)


def test_plain_manifests_read_as_json_would() -> None:
    docs = load_documents("a: 2026-01-01\nb: yes\nc: 010\nd: ~\ne: &x {k: v}\nf: *x\n---\n---\n- 1\n")
    assert docs == [{"a": "2026-01-01", "b": True, "c": 8, "d": None, "e": {"k": "v"}, "f": {"k": "v"}}, [1]]
