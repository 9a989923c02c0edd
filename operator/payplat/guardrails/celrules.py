"""CEL expressions of organisation policies: compiled once, evaluated with a cost limit.

The same language the API server uses for admission rules. cel-python (``celpy``) has
no cost accounting of its own, so evaluation runs on an ``Evaluator`` that charges one
unit for every syntax node it visits, including each node of a macro's body per list
element (``all``, ``exists``, ``map``, ``filter``): an expression over a large input, or
comprehensions nested deeply, stops at ``COST_LIMIT`` with an error instead of running
on. Compilation is bounded too: ``MAX_EXPRESSION`` characters, checked before parsing.

Nothing here raises on bad input: ``compile_rule`` returns the error text for the
policy's status, ``evaluate`` returns ``Verdict(error=...)`` for the caller to judge.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError, Evaluator

__all__ = ["COST_LIMIT", "MAX_EXPRESSION", "CompiledRule", "CostLimitExceeded", "Verdict", "compile_rule", "evaluate"]

#: Syntax nodes one evaluation may visit (celpy visits ~50,000 a second); a rule over one
#: resource needs tens to a few hundred.
COST_LIMIT = 10_000
#: Longest expression accepted (the CRD's maxLength says the same).
MAX_EXPRESSION = 4096


class CostLimitExceeded(Exception):
    """An evaluation used more than its budget of visited syntax nodes."""


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.limit = limit

    def charge(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise CostLimitExceeded(f"evaluation exceeded the cost limit of {self.limit}")


class _BoundedEvaluator(Evaluator):
    """celpy's tree-walking evaluator, charging each visited node to a shared budget."""

    def __init__(self, ast: lark.Tree[lark.Token], activation: Any, budget: _Budget) -> None:
        super().__init__(ast, activation)
        self.budget = budget

    def visit_children(self, tree: lark.Tree[lark.Token]) -> list[Any]:
        self.budget.charge()
        return super().visit_children(tree)

    def sub_evaluator(self, ast: lark.Tree[lark.Token]) -> Evaluator:
        return _BoundedEvaluator(ast, self.activation, self.budget)


@dataclass(frozen=True)
class CompiledRule:
    expression: str
    ast: lark.Tree[lark.Token]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    error: str | None = None
    cost: int = 0
    """Syntax nodes visited, so a caller can bound a whole review as well."""


@functools.cache
def _environment() -> celpy.Environment:
    return celpy.Environment()


@functools.lru_cache(maxsize=1024)
def compile_rule(expression: str) -> CompiledRule | str:
    """The compiled rule, or why it does not compile (one line, with the position)."""
    if not expression.strip():
        return "the expression is empty"
    if len(expression) > MAX_EXPRESSION:
        return f"the expression is {len(expression)} characters long (at most {MAX_EXPRESSION})"
    try:
        ast = _environment().compile(expression)
    except Exception as error:  # noqa: BLE001 - celpy raises several parse error types
        line, column = getattr(error, "line", None), getattr(error, "column", None)
        if line is None or column is None:
            return f"does not compile: {' '.join(str(error).split())[:300]}"
        text = expression.splitlines()[line - 1] if expression.splitlines() else expression
        return f"syntax error at line {line}, column {column}: {text[max(0, column - 21) : column + 19]!r}"
    return CompiledRule(expression=expression, ast=ast)


def evaluate(rule: CompiledRule, variables: Mapping[str, Any], *, limit: int = COST_LIMIT) -> Verdict:
    """Does the rule hold for ``variables`` (plain JSON data)? A result that is not a
    boolean, an evaluation error or the cost limit comes back as ``Verdict.error``."""
    activation = _environment().program(rule.ast).new_activation()
    budget = _Budget(limit)
    evaluator = _BoundedEvaluator(rule.ast, activation, budget)
    context = {name: json_to_cel(value) for name, value in variables.items()}
    try:
        value = evaluator.evaluate(context)
    except CostLimitExceeded as error:
        return Verdict(False, str(error), limit)
    except lark.exceptions.VisitError as error:
        if isinstance(error.orig_exc, CostLimitExceeded):
            return Verdict(False, str(error.orig_exc), limit)
        return Verdict(False, _describe(error.orig_exc), limit - budget.left)
    except Exception as error:  # noqa: BLE001 - a rule never crashes the operator
        return Verdict(False, _describe(error), limit - budget.left)
    if not isinstance(value, celtypes.BoolType):
        return Verdict(False, f"the expression returned {type(value).__name__}, not a bool", limit - budget.left)
    return Verdict(bool(value), None, limit - budget.left)


def _describe(error: BaseException) -> str:
    if isinstance(error, CELEvalError) and error.args:
        return " ".join(str(error.args[0]).split())[:300]
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]


def decoded(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with JSON-document strings (container definitions, IAM and key policies)
    parsed, so rules can look inside them."""
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value
    return out
