"""CEL rules: compiled once, bounded when evaluated, never raising."""

from __future__ import annotations

import pytest

from payplat.guardrails import celrules
from payplat.guardrails.celrules import COST_LIMIT, CompiledRule, compile_rule, decoded, evaluate


def compiled(expression: str) -> CompiledRule:
    result = compile_rule(expression)
    assert isinstance(result, CompiledRule), result
    return result


TASK = {
    "resource": {"type": "aws:ecs/taskDefinition:TaskDefinition", "name": "t", "inputs": {"cpu": "2048"}},
    "platform": {"name": "p", "namespace": "team-a", "labels": {"tier": "prod"}, "region": "eu-west-1"},
}


@pytest.mark.parametrize(
    ("expression", "passed"),
    [
        ("int(resource.inputs.cpu) <= 1024", False),
        ("int(resource.inputs.cpu) <= 4096", True),
        ("platform.labels.tier == 'prod' && platform.region.startsWith('eu-')", True),
        ("!has(resource.inputs.memory) || int(resource.inputs.memory) < 100", True),
    ],
)
def test_rules_evaluate_over_resource_and_platform(expression: str, passed: bool) -> None:
    verdict = evaluate(compiled(expression), TASK)
    assert (verdict.passed, verdict.error) == (passed, None) and verdict.cost > 0


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("resource.inputs.memory == '1'", "memory"),  # no such key: an error, not a silent pass
        ("1 + 1", "not a bool"),
        ("1 / 0 == 1", "divide by zero"),
    ],
)
def test_evaluation_errors_come_back_as_the_verdict(expression: str, error: str) -> None:
    verdict = evaluate(compiled(expression), TASK)
    assert not verdict.passed and verdict.error is not None and error in verdict.error


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("resource.type ===", "syntax error at line 1, column 17"),
        ("resource.name == 'x", "syntax error at line 1"),
        ("", "empty"),
        ("true && " * 600 + "true", "at most 4096"),
    ],
)
def test_bad_cel_is_refused_with_a_message(expression: str, error: str) -> None:
    result = compile_rule(expression)
    assert isinstance(result, str) and error in result


def test_nested_comprehensions_stop_at_the_cost_limit() -> None:
    """10^5 innermost bodies (~20 s of celpy unbounded) stop after COST_LIMIT visited nodes."""
    ten = "[0,1,2,3,4,5,6,7,8,9]"
    expression = f"{ten}.all(a, {ten}.all(b, {ten}.all(c, {ten}.all(d, {ten}.all(e, a+b+c+d+e >= 0)))))"
    verdict = evaluate(compiled(expression), {})
    assert verdict.error == f"evaluation exceeded the cost limit of {COST_LIMIT}" and verdict.cost == COST_LIMIT


def test_a_smaller_limit_is_honoured() -> None:
    verdict = evaluate(compiled("[1,2,3].all(x, x > 0)"), {}, limit=5)
    assert verdict.error is not None and "cost limit of 5" in verdict.error


def test_json_document_inputs_are_parsed_for_rules() -> None:
    inputs = decoded({"containerDefinitions": '[{"name": "a", "privileged": false}]', "cpu": "256", "bad": "{x"})
    assert inputs == {"containerDefinitions": [{"name": "a", "privileged": False}], "cpu": "256", "bad": "{x"}
    rule = compiled("resource.inputs.containerDefinitions.all(c, !c.privileged)")
    assert evaluate(rule, {"resource": {"inputs": inputs}}).passed


def test_compilation_is_cached() -> None:
    assert compile_rule("true") is compile_rule("true")
    assert celrules.compile_rule.cache_info().hits >= 1
