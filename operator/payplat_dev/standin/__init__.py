"""A local stand-in for the ``pulumi-resource-aws`` provider plugin (version 7.51.1).

The real plugin cannot be built here and AWS cannot be reached, but the Pulumi CLI accepts
any executable that speaks the provider gRPC protocol. This one answers like
``payplat.program.mocks`` (the same ids, ARNs and computed outputs the offline plan shows) and keeps
what it "created" in a folder (``StandinCloud``), so tests can prove what the real engine
did: a journal of every create/update/delete, drift made "in the cloud", failures and slow
steps on demand.

* ``cloud``: the folder the stand-in keeps its resources and journal in, and the test
  hooks (``drift``); pure parsing of the fault/slow tags.
* ``provider``: the gRPC servicer and ``main`` (what ``hack/aws-standin/pulumi-resource-aws``
  runs).

May import payplat.program.mocks (the same ids and outputs the plan shows) and the
rest of payplat_dev; runs as its own process under the Pulumi CLI.
"""
