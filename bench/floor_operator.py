"""The framework's floor: a kopf operator that only marks each PaymentPlatform Ready.

``bench/reconcile.py`` runs it as its own process (``kopf run``) on the same local
control plane as ``payplat run``, so the difference between the two apply-to-Ready
times is what payplat itself costs (validation, the program under mocks, state, status)
rather than kopf, the API server or the watch stream.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = logging.WARNING  # no Events: payplat posts its own, the floor doesn't need to
    settings.persistence.finalizer = "floor.bench.payplat.io/finalizer"


@kopf.on.create("payplat.io", "v1alpha1", "paymentplatforms", id="ready")
@kopf.on.update("payplat.io", "v1alpha1", "paymentplatforms", id="ready-again", field="spec")
def ready(meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    generation = meta.get("generation")
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Floor",
            "message": "floor operator",
            "lastTransitionTime": now,
            "observedGeneration": generation,
        }
    ]
