"""A monthly cost estimate of a plan, from the price table shipped with the package.

Offline by design: ``prices.json`` holds on-demand list prices per region with their
source page and date, plus every assumption the estimate makes (LCUs, log volumes),
so a change of prices is a reviewed data change. The estimate reads the planned
resources (what ``payplat plan`` shows), not the spec: Fargate tasks × desiredCount
(and the range from the scaling target's min to its max), NAT gateways, load balancers
with their public addresses, Elastic IPs, KMS keys, secrets and log groups.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources as package_files
from typing import Any

from payplat.guardrails.findings import Resource

__all__ = ["CostEstimate", "LineItem", "PriceTable", "estimate", "price_table"]

SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SCALING_TARGET = "aws:appautoscaling/target:Target"


@dataclass(frozen=True)
class PriceTable:
    region: str
    date: str
    prices: Mapping[str, float]
    assumptions: Mapping[str, float]
    hours: float
    currency: str
    sources: Mapping[str, str]


@functools.cache
def _table() -> dict[str, Any]:
    return json.loads(package_files.files("payplat.guardrails").joinpath("prices.json").read_text())  # type: ignore[no-any-return]


def price_table(region: str) -> PriceTable | None:
    """The prices of ``region``, or None when the table has none for it."""
    data = _table()
    entry = data["regions"].get(region)
    if entry is None:
        return None
    return PriceTable(
        region=region,
        date=entry["date"],
        prices=entry["prices"],
        assumptions=data["assumptions"],
        hours=float(data["hoursPerMonth"]),
        currency=data["currency"],
        sources=data["sources"],
    )


def known_regions() -> list[str]:
    return sorted(_table()["regions"])


@dataclass(frozen=True)
class LineItem:
    item: str
    quantity: str
    monthly: float
    minimum: float
    maximum: float
    assumption: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": self.item,
            "quantity": self.quantity,
            "monthly": round(self.monthly, 2),
            "min": round(self.minimum, 2),
            "max": round(self.maximum, 2),
        }
        if self.assumption:
            out["assumption"] = self.assumption
        return out


@dataclass(frozen=True)
class CostEstimate:
    region: str
    currency: str = "USD"
    price_date: str | None = None
    items: list[LineItem] = field(default_factory=list)
    error: str | None = None
    """Why there is no estimate (a region the table does not cover)."""

    @property
    def monthly(self) -> float:
        return sum(item.monthly for item in self.items)

    @property
    def minimum(self) -> float:
        return sum(item.minimum for item in self.items)

    @property
    def maximum(self) -> float:
        return sum(item.maximum for item in self.items)

    def to_json_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"currency": self.currency, "region": self.region, "error": self.error}
        return {
            "currency": self.currency,
            "region": self.region,
            "priceDate": self.price_date,
            "monthly": round(self.monthly, 2),
            "min": round(self.minimum, 2),
            "max": round(self.maximum, 2),
            "items": [item.to_json_dict() for item in self.items],
        }

    def summary(self) -> dict[str, Any]:
        """What ``status.cost`` holds: totals and the price date, no breakdown."""
        if self.error is not None:
            return {"currency": self.currency, "error": self.error}
        return {
            "currency": self.currency,
            "monthly": f"{self.monthly:.2f}",
            "min": f"{self.minimum:.2f}",
            "max": f"{self.maximum:.2f}",
            "priceDate": self.price_date or "",
        }


def estimate(resources: Sequence[Resource], region: str) -> CostEstimate:
    table = price_table(region)
    if table is None:
        return CostEstimate(
            region=region, error=f"no prices for region {region} (the table covers {', '.join(known_regions())})"
        )
    price, assume, hours = table.prices, table.assumptions, table.hours
    by_type: dict[str, list[Resource]] = {}
    for resource in resources:
        by_type.setdefault(resource.type, []).append(resource)
    items: list[LineItem] = []

    def flat(item: str, count: int, unit_monthly: float, quantity: str, assumption: str = "") -> None:
        if count:
            items.append(
                LineItem(item, quantity, count * unit_monthly, count * unit_monthly, count * unit_monthly, assumption)
            )

    tasks = {str(t.inputs.get("family")): t for t in by_type.get(TASK, [])}
    bounds = {str(t.inputs.get("resourceId")): t for t in by_type.get(SCALING_TARGET, [])}
    running = (0, 0, 0)
    for service in by_type.get(SERVICE, []):
        family = str(service.inputs.get("taskDefinition", "")).rsplit("/", 1)[-1].rsplit(":", 1)[0]
        task = tasks.get(family)
        if task is None:
            continue
        vcpu, gb = float(task.inputs.get("cpu", 0)) / 1024, float(task.inputs.get("memory", 0)) / 1024
        per_task = hours * (vcpu * price["fargateVcpuHour"] + gb * price["fargateGbHour"])
        desired = int(service.inputs.get("desiredCount", 1))
        cluster = str(service.inputs.get("cluster", "")).rsplit("/", 1)[-1]
        target = bounds.get(f"service/{cluster}/{service.inputs.get('name')}")
        low = int(target.inputs.get("minCapacity", desired)) if target else desired
        high = int(target.inputs.get("maxCapacity", desired)) if target else desired
        running = (running[0] + desired, running[1] + low, running[2] + high)
        items.append(
            LineItem(
                f"Fargate {service.inputs.get('name')}",
                f"{desired} × {vcpu:g} vCPU, {gb:g} GB (scales {low}-{high})",
                desired * per_task,
                low * per_task,
                high * per_task,
            )
        )
    nats = len(by_type.get("aws:ec2/natGateway:NatGateway", []))
    flat(
        "NAT gateways",
        nats,
        hours * price["natGatewayHour"],
        f"{nats} × {hours:g} h",
        "hours only; data processing is traffic-dependent and not estimated",
    )
    balancers = by_type.get("aws:lb/loadBalancer:LoadBalancer", [])
    lcus = assume["albLcus"]
    flat(
        "Application load balancers",
        len(balancers),
        hours * (price["albHour"] + lcus * price["albLcuHour"]),
        f"{len(balancers)} × {hours:g} h + {lcus:g} LCU",
        f"{lcus:g} LCU on average",
    )
    addresses = len(by_type.get("aws:ec2/eip:Eip", [])) + sum(
        len(b.inputs.get("subnets") or []) for b in balancers if not b.inputs.get("internal")
    )
    flat(
        "Public IPv4 addresses",
        addresses,
        hours * price["publicIpv4Hour"],
        f"{addresses} × {hours:g} h",
        "one per Elastic IP and one per subnet of an internet-facing load balancer",
    )
    keys = len(by_type.get("aws:kms/key:Key", []))
    flat("KMS keys", keys, price["kmsKeyMonth"], f"{keys}", "API requests not estimated")
    secrets = len(by_type.get("aws:secretsmanager/secret:Secret", []))
    flat("Secrets Manager secrets", secrets, price["secretMonth"], f"{secrets}", "API calls not estimated")
    groups = by_type.get("aws:cloudwatch/logGroup:LogGroup", [])
    if groups:
        flows = len(by_type.get("aws:ec2/flowLog:FlowLog", []))
        per_task_gb, flow_gb = assume["logsGbPerTaskMonth"], assume["flowLogsGbPerMonth"]
        retention = max((int(g.inputs.get("retentionInDays") or 3653) for g in groups), default=30)
        months = min(retention / 30, assume["logsStorageMonthsCap"])

        def logs(tasks_running: int) -> float:
            ingest = tasks_running * per_task_gb + flows * flow_gb
            return ingest * price["logsIngestGb"] + ingest * months * price["logsStorageGbMonth"]

        items.append(
            LineItem(
                "CloudWatch Logs",
                f"{len(groups)} log groups, {months:g} months stored",
                logs(running[0]),
                logs(running[1]),
                logs(running[2]),
                f"{per_task_gb:g} GB a month per running task, {flow_gb:g} GB of flow logs",
            )
        )
    return CostEstimate(region=region, currency=table.currency, price_date=table.date, items=items)
