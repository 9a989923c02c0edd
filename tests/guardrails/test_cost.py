"""The cost estimate: the price table is pinned to AWS's published prices (a change of
it is a reviewed data change: this file changes with it), and the examples' estimates
are recomputed here by hand from those prices."""

from __future__ import annotations

import pytest

from payplat.guardrails.cost import estimate, price_table
from payplat.program.manifest import Manifest
from payplat.program.plan import Plan

HOURS = 730
#: Published on-demand prices (USD) as the table must hold them, per region.
PUBLISHED = {
    "us-east-1": {
        "fargateVcpuHour": 0.04048,
        "fargateGbHour": 0.004445,
        "natGatewayHour": 0.045,
        "albHour": 0.0225,
        "albLcuHour": 0.008,
        "publicIpv4Hour": 0.005,
        "kmsKeyMonth": 1.0,
        "secretMonth": 0.40,
        "logsIngestGb": 0.50,
        "logsStorageGbMonth": 0.03,
    },
    "us-west-2": {
        "fargateVcpuHour": 0.04048,
        "fargateGbHour": 0.004445,
        "natGatewayHour": 0.045,
        "albHour": 0.0225,
        "albLcuHour": 0.008,
        "publicIpv4Hour": 0.005,
        "kmsKeyMonth": 1.0,
        "secretMonth": 0.40,
        "logsIngestGb": 0.50,
        "logsStorageGbMonth": 0.03,
    },
    "eu-west-1": {
        "fargateVcpuHour": 0.04048,
        "fargateGbHour": 0.004445,
        "natGatewayHour": 0.048,
        "albHour": 0.0252,
        "albLcuHour": 0.008,
        "publicIpv4Hour": 0.005,
        "kmsKeyMonth": 1.0,
        "secretMonth": 0.40,
        "logsIngestGb": 0.57,
        "logsStorageGbMonth": 0.03,
    },
}


@pytest.mark.parametrize("region", sorted(PUBLISHED))
def test_the_table_holds_the_published_prices_with_source_and_date(region: str) -> None:
    table = price_table(region)
    assert table is not None and dict(table.prices) == PUBLISHED[region]
    assert table.date == "2025-01-01" and table.currency == "USD" and table.hours == HOURS
    assert set(table.sources) == set(table.prices) and all("aws.amazon.com" in s for s in table.sources.values())
    assert dict(table.assumptions) == {
        "albLcus": 1,
        "logsGbPerTaskMonth": 1,
        "flowLogsGbPerMonth": 5,
        "logsStorageMonthsCap": 12,
    }


def fargate(vcpu: float, gb: float, prices: dict[str, float]) -> float:
    return HOURS * (vcpu * prices["fargateVcpuHour"] + gb * prices["fargateGbHour"])


def test_the_minimal_example_costs_what_the_published_prices_say(minimal: tuple[Manifest, Plan]) -> None:
    """us-east-1, three services of 0.25 vCPU / 0.5 GB x2 (scaling 2-6), one NAT, an ALB
    in two public subnets, one key, one secret, 365-day logs."""
    p = PUBLISHED["us-east-1"]
    task = fargate(0.25, 0.5, p)
    fixed = (
        HOURS * p["natGatewayHour"]
        + HOURS * (p["albHour"] + p["albLcuHour"])
        + 3 * HOURS * p["publicIpv4Hour"]
        + p["kmsKeyMonth"]
        + p["secretMonth"]
    )

    def logs(tasks: int) -> float:
        ingest = tasks * 1 + 5
        return ingest * p["logsIngestGb"] + ingest * 12 * p["logsStorageGbMonth"]

    result = estimate(minimal[1].resources, "us-east-1")
    assert result.price_date == "2025-01-01" and result.error is None
    assert result.monthly == pytest.approx(6 * task + fixed + logs(6))
    assert result.minimum == pytest.approx(6 * task + fixed + logs(6))
    assert result.maximum == pytest.approx(18 * task + fixed + logs(18))
    assert round(result.monthly, 2) == 130.99 and round(result.maximum, 2) == 249.43


def test_the_production_example_costs_what_the_published_prices_say(example: tuple[Manifest, Plan]) -> None:
    """eu-west-1: api-gateway 3 x 0.5/1 (3-12), payment-processor 2 x 1/2 (2-10),
    fraud-detector 2 x 0.5/1 (2-6); three NAT gateways with their EIPs, an ALB in three
    subnets, flow logs."""
    p = PUBLISHED["eu-west-1"]
    half, one = fargate(0.5, 1, p), fargate(1, 2, p)
    fixed = (
        3 * HOURS * p["natGatewayHour"]
        + HOURS * (p["albHour"] + p["albLcuHour"])
        + 6 * HOURS * p["publicIpv4Hour"]
        + p["kmsKeyMonth"]
        + p["secretMonth"]
    )

    def logs(tasks: int) -> float:
        ingest = tasks + 5
        return ingest * p["logsIngestGb"] + ingest * 12 * p["logsStorageGbMonth"]

    result = estimate(example[1].resources, "eu-west-1")
    assert result.monthly == pytest.approx(3 * half + 2 * one + 2 * half + fixed + logs(7))
    assert result.maximum == pytest.approx(12 * half + 10 * one + 6 * half + fixed + logs(28))
    assert {item.item: round(item.monthly, 2) for item in result.items}["NAT gateways"] == 105.12
    assert round(result.monthly, 2) == 326.00 and round(result.maximum, 2) == 868.11


def test_a_region_without_prices_says_so(minimal: tuple[Manifest, Plan]) -> None:
    result = estimate(minimal[1].resources, "ap-south-1")
    assert result.error == "no prices for region ap-south-1 (the table covers eu-west-1, us-east-1, us-west-2)"
    assert result.summary() == {"currency": "USD", "error": result.error}


def test_status_summary_is_strings_for_the_printer_column(minimal: tuple[Manifest, Plan]) -> None:
    summary = estimate(minimal[1].resources, "us-east-1").summary()
    assert summary == {
        "currency": "USD",
        "monthly": "130.99",
        "min": "130.99",
        "max": "249.43",
        "priceDate": "2025-01-01",
    }
