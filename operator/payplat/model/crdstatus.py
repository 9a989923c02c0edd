"""The status subresource's schema (PaymentPlatform and PaymentPlatformPolicy): written by hand
because status is the controller's output, not a model the user fills in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from payplat.engines.base import Changes


def _status_schema() -> dict[str, Any]:
    """What the operator writes (payplat.controller.status), described for ``kubectl explain``.

    Unknown fields are kept (``x-kubernetes-preserve-unknown-fields``): kopf may store its
    own bookkeeping under ``status.kopf``, and a newer operator may add fields before the
    CRD is upgraded.
    """

    def string(description: str) -> dict[str, Any]:
        return {"type": "string", "description": description}

    def timestamp(description: str) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", "description": description}

    changes: dict[str, Any] = {
        "type": "object",
        "description": "Resource change counts of the operation, as Pulumi's summary reports them.",
        "properties": {
            f.name: {
                "type": "integer",
                "description": f"Resources to {f.name}" if f.name != "same" else "Resources left unchanged.",
            }
            for f in dataclasses.fields(Changes)
        },
    }
    for prop in changes["properties"].values():
        if not prop["description"].endswith("."):
            prop["description"] += "."
    condition = {
        "type": "object",
        "description": "A metav1.Condition.",
        "required": ["type", "status"],
        "properties": {
            "type": string("Ready, Reconciling, Stalled or Drifted."),
            "status": {
                "type": "string",
                "enum": ["True", "False", "Unknown"],
                "description": "True, False or Unknown.",
            },
            "reason": string("One CamelCase word a program can switch on."),
            "message": string("What happened, for a person."),
            "lastTransitionTime": timestamp("When status last changed."),
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The metadata.generation this condition describes.",
            },
        },
    }
    return {
        "type": "object",
        "description": "What the operator observed and did; written only by the operator.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "phase": string("One-word summary for people and printer columns; automation should read conditions."),
            "message": string("The latest outcome in one line."),
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The metadata.generation the rest of the status describes.",
            },
            "engine": string("Which engine produced this status: pulumi, or offline (clearly fake outputs)."),
            "conditions": {
                "type": "array",
                "description": "Kubernetes-convention conditions (kstatus): Ready, Reconciling, Stalled, Drifted.",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "outputs": {
                "type": "object",
                "description": "Stack outputs (ALB URL, VPC and cluster ids, ...); never secret values.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "lastUpdate": {
                "type": "object",
                "description": "The last engine operation that changed AWS (or tried to).",
                "properties": {
                    "operation": string("up, destroy, refresh or preview."),
                    "result": string("Succeeded or Failed."),
                    "startTime": timestamp("When the operation started."),
                    "endTime": timestamp("When the operation finished."),
                    "changes": changes,
                },
            },
            "stackLock": {
                "type": "object",
                "description": "Present while an operation waits for a stack lock whose holder is not provably "
                "one of this operator's own ended processes: who holds it and since when. The "
                "operator never breaks such a lock; delete the lock file once the holder has ended.",
                "properties": {
                    "who": string("user@host of the holder, as the lock file names it."),
                    "hostname": string("The host (or pod) that took the lock."),
                    "username": string("The user that took the lock."),
                    "pid": {
                        "type": "integer",
                        "format": "int64",
                        "description": "The holder's process id on its host.",
                    },
                    "since": timestamp("When the lock was taken."),
                    "lockFile": string("The lock file's key in the state backend."),
                    "judgement": string("Why the holder counts as alive."),
                },
            },
            "lastHandledReconcileRequest": string(
                "The payplat.io/reconcile-request annotation value the last reconcile answered."
            ),
            "policy": {
                "type": "object",
                "description": "The guardrails' review of the last plan (built-in rules, PaymentPlatformPolicies, waivers).",
                "properties": {
                    "blocked": {"type": "boolean", "description": "An unwaived critical finding blocks the apply."},
                    "counts": {
                        "type": "object",
                        "description": "Unwaived findings per severity.",
                        "additionalProperties": {"type": "integer"},
                    },
                    "findings": {
                        "type": "array",
                        "description": "The worst findings first (at most 20).",
                        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                    "waivers": {
                        "type": "array",
                        "description": "Waived rules and the reasons given.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "rule": string("The waived rule id."),
                                "reason": string("Why it is waived."),
                            },
                        },
                    },
                    "policies": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The PaymentPlatformPolicies that selected this platform.",
                    },
                },
            },
            "cost": {
                "type": "object",
                "description": "Monthly cost estimate of the last plan, from the price table shipped with the operator.",
                "properties": {
                    "currency": string("USD."),
                    "monthly": string("At desiredCount, e.g. 130.99."),
                    "min": string("With every service at scaling.min."),
                    "max": string("With every service at scaling.max."),
                    "priceDate": string("Date of the prices used."),
                    "error": string("Why there is no estimate (a region the price table does not cover)."),
                },
            },
            **_change_control_status(),
            "lastDriftCheck": {
                "type": "object",
                "description": "The last drift check (refresh and preview, expecting no changes).",
                "properties": {
                    "time": timestamp("When the check finished."),
                    "drifted": {
                        "type": "boolean",
                        "nullable": True,
                        "description": "Whether AWS differed from the stack; null when the check failed.",
                    },
                    "changes": changes,
                    "error": string("Why the check could not tell, when it failed."),
                    "request": string("The payplat.io/check-drift annotation value this check answered."),
                },
            },
        },
    }


def _change_control_status() -> dict[str, Any]:
    """status.pendingChange, status.history and the plan ConfigMaps (payplat.controller.changerecords)."""

    def free(description: str, kind: str = "object") -> dict[str, Any]:
        node: dict[str, Any] = {"type": kind, "description": description}
        if kind == "object":
            node["x-kubernetes-preserve-unknown-fields"] = True
        else:
            node["items"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return node

    return {
        "pendingChange": free(
            "The previewed change waiting for approval (phase AwaitingApproval): planHash, change "
            "counts, the resources to be replaced or deleted with Pulumi's reason, protected "
            "kinds, cost and policy deltas, and the ConfigMap holding the readable plan. Approve "
            "with: kubectl annotate pp NAME payplat.io/approve=<planHash>."
        ),
        "history": free(
            "The last changeControl.historyLimit operations: generation, operation, result, change "
            "counts, planHash, approvedBy (field manager and annotation value), updateId.",
            "array",
        ),
        "planConfigMaps": free(
            "The plan ConfigMaps the operator created for this platform (name and UID), newest "
            "last; older ones are deleted.",
            "array",
        ),
        "lastHandledApproval": {
            "type": "string",
            "description": "The payplat.io/approve annotation value the operator last acted on.",
        },
    }


def _policy_status_schema() -> dict[str, Any]:
    condition = _status_schema()["properties"]["conditions"]
    return {
        "type": "object",
        "description": "Whether the operator could compile the policy; written only by the operator.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The metadata.generation the status describes.",
            },
            "conditions": {
                **condition,
                "description": "Ready: True when every rule compiled (reason Accepted), "
                "False with reason InvalidPolicy otherwise.",
            },
            "rules": {"type": "integer", "description": "How many rules the policy holds."},
            "problems": {
                "type": "array",
                "items": {"type": "string"},
                "description": "One line per problem, naming the field (e.g. a CEL syntax error).",
            },
        },
    }
