"""payplat: a Kubernetes operator that keeps an AWS payment platform converged to a
PaymentPlatform custom resource.

Data flows one way through the package:
manifest -> ``spec`` -> ``program`` -> ``engines`` -> ``status`` (written by ``handlers``).
"""

API_GROUP = "payplat.io"
API_VERSION = "v1alpha1"
KIND = "PaymentPlatform"
PLURAL = "paymentplatforms"
