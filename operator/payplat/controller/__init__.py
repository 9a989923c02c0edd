"""The controller: everything ``payplat run`` does around the engines. kopf handlers,
status (conditions from operation results), operations (runtime, gate), leadership (the
Lease), Kubernetes I/O (kube), redaction, metrics, settings, the runner, claims, the
gatekeeper and freshness checks.

May import payplat.model, payplat.program (stack keys, plan), payplat.guardrails and
payplat.engines; nothing imports the controller but the CLI.
"""
