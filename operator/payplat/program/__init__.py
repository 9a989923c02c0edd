"""The program: the Pulumi ComponentResources a spec becomes (``build.make_program``),
the stack keys shared with the engines, the mocks, and ``plan`` (the program run under
mocks: ``payplat plan`` and the offline engine's desired state).

May import payplat.model and payplat.guardrails (the plan's review). This ``__init__``
stays empty on purpose: stackkeys, mocks and plan must not load pulumi_aws.
"""
