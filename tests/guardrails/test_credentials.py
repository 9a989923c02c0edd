"""The plain-credentials rule's value pattern: what it finds, and that no input can make
it slow (every repetition bounded, so each start position costs a bounded number of
steps; an unbounded one made a 300 kB environment value cost 14 s per review)."""

from __future__ import annotations

from typing import Any

import pytest

from payplat.guardrails.rulessecrets import CREDENTIAL_VALUE

try:  # Python 3.11 renamed sre_parse to re._parser
    from re import _parser as sre_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as sre_parser  # type: ignore[no-redef]

REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


def unbounded_repeats(tree: Any) -> list[str]:
    """Every ``*``, ``+`` or ``{n,}`` in a parsed pattern, as text."""
    found: list[str] = []
    for op, arg in tree:
        if str(op) in REPEATS:
            low, high, sub = arg
            if high == sre_parser.MAXREPEAT:
                found.append(f"{{{low},}} over {list(sub)!r}"[:120])
            found += unbounded_repeats(sub)
        elif str(op) in {"SUBPATTERN", "ATOMIC_GROUP"}:
            found += unbounded_repeats(arg[-1])
        elif str(op) == "BRANCH":
            for branch in arg[1]:
                found += unbounded_repeats(branch)
    return found


def test_every_repetition_is_bounded() -> None:
    assert unbounded_repeats(sre_parser.parse(CREDENTIAL_VALUE.pattern)) == []


def test_the_check_finds_an_unbounded_repetition() -> None:
    assert unbounded_repeats(sre_parser.parse(r"x(?:a|[a-z][a-z0-9]*://)")) != []


@pytest.mark.parametrize(
    "value",
    [
        "postgres://app:hunter2@db.internal:5432/payments",
        "https://user:p%40ss@example.com/x",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_" + "A1" * 20,
        "AKIAIOSFODNN7EXAMPLE",
        "key: -----BEGIN OPENSSH PRIVATE KEY-----",
        "ghp_" + "a1B2" * 9,
        "xoxb-1234567890-abcdef",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "x" * 200_000 + " postgres://app:hunter2@db:5432/p",
    ],
)
def test_credentials_are_found(value: str) -> None:
    assert CREDENTIAL_VALUE.search(value)


@pytest.mark.parametrize(
    "value",
    [
        "info",
        "https://example.com/path?q=1",
        "postgres://db.internal:5432/payments",
        "a" * 300_000,
        "eyJ-" * 75_000,
        "a://" + "b" * 300_000,
        "sk_live_short",
        "-----BEGIN " + "A " * 100_000,
    ],
)
def test_ordinary_and_hostile_values_are_not_credentials(value: str) -> None:
    assert not CREDENTIAL_VALUE.search(value)


def test_the_user_password_url_is_found_at_the_length_a_real_one_has() -> None:
    user, password = "u" * 256, "p" * 256
    assert CREDENTIAL_VALUE.search(f"postgres://{user}:{password}@db")
