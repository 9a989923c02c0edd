from payplat.plan import Plan


def test_default_plan_exports_every_contract_output(default_plan: Plan) -> None:
    assert set(default_plan.outputs) == {
        "vpcId", "publicSubnetIds", "privateSubnetIds", "clusterName", "clusterArn", "albDnsName",
        "albUrl", "kmsKeyArn", "secretArn", "namespaceName", "services",
    }
    assert set(default_plan.outputs["services"]) == {"api-gateway", "payment-processor", "fraud-detector"}
