"""payplat: a Kubernetes operator that keeps an AWS payment platform converged to a
PaymentPlatform custom resource.

Data flows one way through the package:
manifest -> ``spec`` -> ``program`` -> ``engines`` -> ``status`` (written by ``handlers``).

The tree shows it: ``model`` (what a PaymentPlatform is) -> ``program`` (its Pulumi
program and plan) and ``guardrails`` (the plan's review) -> ``engines`` (offline or the
Automation API) -> ``controller`` (what ``payplat run`` does) -> ``cli``. Each package may
import only the packages before it (tests/test_architecture.py); nothing here may import
``payplat_dev``, the development harness that is never installed.
"""

API_GROUP = "payplat.io"
API_VERSION = "v1alpha1"
KIND = "PaymentPlatform"
PLURAL = "paymentplatforms"
