"""``payplat plan`` against hostile manifests: a seeded fuzz run of FUZZ_CASES files.

Each case is one of the attacks a review found (deep nesting, alias bombs, huge values,
YAML tags with no JSON value, syntax errors on a Secret's line, type confusion, Unicode
look-alikes, random bytes) or a random mutation of the production example. Every case
must end with exit code 0 or 2, no traceback, output bounded, and never the Secret's
password in the output. The run is seeded (``FUZZ_SEED``, printed on failure) and fast:
hostile input is refused before the program runs, and the few manifests that stay valid
are planned once each (planning is the slow part).
"""

from __future__ import annotations

import io
import json
import os
import random
import string
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import yaml

from payplat.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())
FUZZ_SEED = int(os.environ.get("PAYPLAT_FUZZ_SEED", "20261202"))
FUZZ_CASES = 1000
PASSWORD = "Fuzz-Secret-Pw-9d1c47"  # the Secret in every case; it must never be echoed
#: Bounds on what one run may print: refusals are short, a plan is a table.
MAX_ERR = 10_000
MAX_OUT = 200_000

SECRET_DOC = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\nstringData:\n  password: {PASSWORD}\n"


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def with_secret(text: str) -> str:
    return SECRET_DOC + "---\n" + text


# --------------------------------------------------------------------------- attacks


def deep_nesting(rng: random.Random) -> str:
    depth = rng.choice([65, 200, 1000, 5000])
    opener, closer = rng.choice([("[", "]"), ("{a: ", "}"), ("- ", "")])
    if opener == "- ":
        nested = "".join("  " * i + "-\n" for i in range(depth))
        return with_secret(dump(EXAMPLE) + "  tags:\n" + nested)
    return with_secret(dump(EXAMPLE).replace("region: eu-west-1", f"region: {opener * depth}x{closer * depth}"))


def alias_bomb(rng: random.Random) -> str:
    levels = rng.randint(6, 12)
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    body = "\n".join("  " + line for line in lines)
    return with_secret(
        f"apiVersion: payplat.io/v1alpha1\nkind: PaymentPlatform\nmetadata: {{name: bomb}}\nspec:\n"
        f"  tags: *a{levels - 1}\n  x:\n{body}\n"
        if rng.random() < 0.5
        else f"apiVersion: payplat.io/v1alpha1\nkind: PaymentPlatform\nmetadata: {{name: bomb}}\n"
        f"x:\n{body}\nspec:\n  tags:\n    t: *a{levels - 1}\n"
    )


def huge_value(rng: random.Random) -> str:
    size = rng.choice([10_000, 300_000, 1_100_000, 5_000_000])
    value = rng.choice(string.ascii_letters) * size
    text = dump(EXAMPLE)
    target = rng.choice(
        [
            "region: eu-west-1",
            "name: payments-prod",
            "image: docker.io/hashicorp/http-echo:1.0.0",
            "team: payments",
            "LOG_LEVEL: info",
            "environmentSuffix: prod",
        ]
    )
    key = target.split(":")[0]
    return with_secret(text.replace(target, f"{key}: {value}", 1))


def yaml_tags(rng: random.Random) -> str:
    tag = rng.choice(
        [
            "!!binary aGVsbG8=",
            "!!set {a, b}",
            "!!omap [{a: 1}]",
            "!!timestamp 2026-01-01",
            "!!python/object:os.system {}",
            "!custom x",
            "!!float .inf",
            ".nan",
            "!!pairs [{a: 1}]",
            "!!str 8080",
            "!!int '0x1F'",
        ]
    )
    field = rng.choice(["region", "environmentSuffix", "deletionPolicy"])
    return with_secret(dump(EXAMPLE).replace(f"{field}: {EXAMPLE['spec'][field]}", f"{field}: {tag}", 1))


def syntax_error_near_secret(rng: random.Random) -> str:
    broken = rng.choice(
        [
            f"  password: {PASSWORD}\n    bad: [",
            f'  password: "{PASSWORD}\n',
            f"\tpassword: {PASSWORD}\n",
            f"  password: {PASSWORD}: {PASSWORD}\n",
            f"  password: [{PASSWORD}\n",
            f"  password: *{PASSWORD}\n",
            f"  password: &{PASSWORD} {{\n",
            f"  password: @{PASSWORD}\n",
            f"  password: `{PASSWORD}`\n",
        ]
    )
    secret = SECRET_DOC.replace(f"  password: {PASSWORD}\n", broken)
    return secret + "---\n" + dump(EXAMPLE)


TYPE_CONFUSION: list[tuple[tuple[Any, ...], Any]] = [
    (("services", 0, "port"), "8080"),
    (("services", 0, "public"), "yes"),
    (("services", 0, "desiredCount"), True),
    (("services", 0, "cpu"), 512.5),
    (("services", 0, "memory"), "1024"),
    (("network", "flowLogs"), "true"),
    (("network", "availabilityZones"), 2.0),
    (("database", "port"), "5432"),
    (("logs", "retentionDays"), "365"),
    (("services", 0, "scaling", "min"), False),
    (("driftDetection", "intervalMinutes"), 60.5),
    (("region",), "eu-west-1\n"),
    (("region",), "eu-west-\u0661"),
    (("region",), "eu-west-１"),
    (("environmentSuffix",), "prod\n"),
    (("services", 0, "name"), "api\u0131"),
    (("services", 0, "user"), "\u0661\u0660\u0661"),
    (("region",), ["eu-west-1"]),
    (("services",), {"a": 1}),
    (("tags",), ["a"]),
    (("tags", "k"), 5),
    (("database", "passwordSecretRef", "name"), "payments_db"),
    (("services", 0, "image"), "nginx:\u200b1.27"),
    (("loadBalancer", "certificateArn"), "arn:aws:acm:eu-west-1:\u0661\u0662\u0663456789012:certificate/x"),
    (("services", 0, "healthCheckPath"), "/\n"),
    (("region",), None),
    (("services", 0, "environment", "A"), 1),
    (("services", 0, "port"), 2**70),
    (("services", 0, "port"), -1),
    (("network", "cidr"), "10.20.0.0/16\n"),
]


def type_confusion(rng: random.Random) -> str:
    path, value = rng.choice(TYPE_CONFUSION)
    doc = json.loads(json.dumps(EXAMPLE))
    _set(doc["spec"], path, value)
    return with_secret(dump(doc))


def random_mutation(rng: random.Random) -> str:
    doc = json.loads(json.dumps(EXAMPLE))
    for _ in range(rng.randint(2, 4)):
        paths = list(_paths(doc))
        path = rng.choice(paths)
        action = rng.random()
        if action < 0.1:
            _delete(doc, path)
        else:
            _set(doc, path, _random_value(rng))
    return with_secret(dump(doc))


def random_text(rng: random.Random) -> str:
    alphabet = string.printable + "\u0661\uff11\u200b\u202e\ud7ff\ufeff:-[]{}&*!|>'\"%@`#"
    return with_secret("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))))


def random_yaml_of_example(rng: random.Random) -> str:
    """The example's text with a few characters replaced, dropped or doubled."""
    text = list(dump(EXAMPLE))
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(text))
        choice = rng.random()
        if choice < 0.4:
            text[i] = rng.choice(":-[]{}&*!|>'\" \n\t#%@`,?")
        elif choice < 0.7:
            del text[i]
        else:
            text.insert(i, text[i])
    return with_secret("".join(text))


def document_shapes(rng: random.Random) -> str:
    return rng.choice(
        [
            "",
            "---\n---\n",
            "- a\n- b\n",
            "just a string\n",
            "42\n",
            "null\n",
            with_secret(dump(EXAMPLE) + "---\n" + dump(EXAMPLE)),
            "---\n".join([SECRET_DOC] * rng.randint(2, 400)),
            with_secret(dump({**EXAMPLE, "kind": "PaymentPlatform", "apiVersion": "payplat.io/v2"})),
            with_secret(dump({**EXAMPLE, "metadata": "payments"})),
            with_secret(dump({**EXAMPLE, "metadata": {"name": "Payments_Prod"}})),
            with_secret(dump({**EXAMPLE, "metadata": {"name": "a" * 64}})),
            with_secret(dump({**EXAMPLE, "metadata": {"name": "payments", "namespace": 7}})),
            with_secret(dump({**EXAMPLE, "spec": "nothing"})),
            with_secret(dump(EXAMPLE) + "spec: {}\n"),  # a duplicate key
        ]
    )


ATTACKS: list[Callable[[random.Random], str]] = [
    deep_nesting,
    alias_bomb,
    huge_value,
    yaml_tags,
    syntax_error_near_secret,
    type_confusion,
    random_mutation,
    random_text,
    random_yaml_of_example,
    document_shapes,
]


# --------------------------------------------------------------------------- helpers


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    parent = doc
    for part in path[:-1]:
        if isinstance(parent, dict):
            parent = parent.setdefault(part, {})
        else:
            parent = parent[part]
    if isinstance(parent, list) and isinstance(path[-1], int) and path[-1] >= len(parent):
        parent.append(value)
    else:
        parent[path[-1]] = value


def _delete(doc: Any, path: tuple[Any, ...]) -> None:
    parent = _parent(doc, path)
    del parent[path[-1]]


def _random_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            -1,
            1,
            3,
            65536,
            2**63,
            1.5,
            float(rng.randint(1, 9)),
            "",
            " ",
            "yes",
            "8080",
            "a" * rng.randint(1, 300),
            "\u0661",
            "us-east-1\n",
            "-",
            "*",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "/",
            "..",
            [],
            {},
            [1, "a"],
            {"a": {"b": {"c": None}}},
            "arn:aws:iam::123456789012:role/x",
            "latest",
            "nginx",
            "Delete",
            "Retain",
            "Remediate",
            "PerAZ",
            "Single",
            "None",
            "payments-db",
            PASSWORD[::-1],
        ]
    )


def plan_cli(text: str, path: Path) -> tuple[int, str, str]:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["plan", str(path), "-o", "table"])
    return code, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- the run


def test_fuzz_plan_with_hostile_manifests(tmp_path: Path) -> None:
    rng = random.Random(FUZZ_SEED)
    path = tmp_path / "manifest.yaml"
    planned: dict[str, tuple[int, str, str]] = {}  # valid manifests are planned once each
    outcomes: dict[int, int] = {}
    failures: list[str] = []
    for case in range(FUZZ_CASES):
        attack = ATTACKS[case % len(ATTACKS)]
        text = attack(rng)
        try:
            if text in planned:
                code, out, err = planned[text]
            else:
                code, out, err = plan_cli(text, path)
                if code == 0:
                    planned[text] = (code, out, err)
        except BaseException as error:  # noqa: BLE001 - a traceback is exactly what this test hunts
            failures.append(f"case {case} ({attack.__name__}): raised {type(error).__name__}: {str(error)[:200]}")
            continue
        outcomes[code] = outcomes.get(code, 0) + 1
        problems = []
        if code not in (0, 2):
            problems.append(f"exit {code}")
        if "Traceback" in err:
            problems.append("a traceback on stderr")
        if len(err) > MAX_ERR or len(out) > MAX_OUT:
            problems.append(f"{len(out)} bytes out, {len(err)} bytes err")
        if PASSWORD in out or PASSWORD in err:
            problems.append("the Secret's password echoed")
        if code == 2 and (out or not err.startswith("error: ")):
            problems.append("a refusal must print only errors")
        if problems:
            failures.append(f"case {case} ({attack.__name__}): {', '.join(problems)}; stderr: {err[:300]!r}")
    print(f"fuzz seed {FUZZ_SEED}: {FUZZ_CASES} cases, exit codes {outcomes}, {len(planned)} distinct valid plans")
    assert sum(outcomes.values()) + len(failures) == FUZZ_CASES >= 1000
    assert not failures, f"seed {FUZZ_SEED}: {len(failures)} failing cases:\n" + "\n".join(failures[:30])
    assert outcomes.get(2, 0) > 500  # the run was hostile: most cases are refused
