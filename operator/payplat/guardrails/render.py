"""A review as text: the findings table and the cost breakdown ``payplat plan`` prints."""

from __future__ import annotations

from collections.abc import Sequence

from payplat.guardrails.cost import CostEstimate

__all__ = ["render_review"]


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def render_review(checked: object) -> str:
    from payplat.guardrails import Review

    assert isinstance(checked, Review)
    counts = checked.counts()
    status = "BLOCKED" if checked.blocking else "passes"
    lines = [
        f"POLICY: {status} ({', '.join(f'{count} {severity}' for severity, count in counts.items())}"
        + (f"; {len(checked.waivers)} waived" if checked.waivers else "")
        + ")"
    ]
    if checked.policies:
        lines.append(f"organisation policies: {', '.join(checked.policies)}")
    if checked.findings:
        rows = [("SEVERITY", "RULE", "RESOURCE", "FIELD", "MESSAGE")]
        for finding in checked.findings:
            severity = f"{finding.severity.value} (waived)" if finding.waived is not None else finding.severity.value
            cited = f" [{finding.check}]" if finding.check else ""
            rows.append((severity, finding.rule, finding.resource, finding.field, finding.message + cited))
        lines += _columns(rows)
        lines.append("")
        lines.append("HOW TO FIX")
        seen: set[str] = set()
        for finding in checked.findings:
            if finding.rule not in seen and finding.waived is None:
                seen.add(finding.rule)
                lines.append(f"{finding.rule}: {finding.fix}")
    for waiver in checked.waivers:
        lines.append(f"waived {waiver.rule}: {waiver.reason}")
    lines += ["", *_cost(checked.cost)]
    return "\n".join(lines) + "\n"


def _cost(cost: CostEstimate) -> list[str]:
    if cost.error is not None:
        return [f"COST: no estimate: {cost.error}"]
    header = f"COST ({cost.currency}/month, {cost.region} prices of {cost.price_date})"
    rows = [("ITEM", "QUANTITY", "MONTHLY", "MIN", "MAX", "ASSUMPTION")]
    rows += [
        (i.item, i.quantity, f"{i.monthly:.2f}", f"{i.minimum:.2f}", f"{i.maximum:.2f}", i.assumption)
        for i in cost.items
    ]
    rows.append(("TOTAL", "", f"{cost.monthly:.2f}", f"{cost.minimum:.2f}", f"{cost.maximum:.2f}", ""))
    return [header, *_columns(rows)]
