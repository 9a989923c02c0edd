"""Development tooling of payplat: never imported by the operator's runtime code.

What lives here exists so the *real* engine (the Pulumi CLI and the Automation API) can run
on a machine without AWS: a stand-in for the ``pulumi-resource-aws`` provider plugin
(``payplat_dev.standin``), moto as the S3 state backend and KMS secrets provider
(``payplat_dev.moto``), and the environment that ties them to the CLI built by
``hack/pulumi-cli.sh`` (``payplat_dev.realengine``). Tests, ``payplat demo --engine pulumi``
and bench/ use it; tests/test_architecture.py keeps the runtime from depending on it.

May import anything of payplat (it drives the CLI, the controller and the engines);
nothing in payplat may import it.
"""
