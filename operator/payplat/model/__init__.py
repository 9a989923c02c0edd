"""The model: what a PaymentPlatform is, independent of how it is built.

Owns the pydantic spec (every default and validation rule), the CRD generated from it,
the YAML reader, a platform's identity (stack name, suffix) and tenancy (what it may
use). Pure: no I/O library. May import nothing of payplat outside this package, except
the CRD generator, which also reads the shape of a change (engines.base) and the
PaymentPlatformPolicy model (guardrails.orgpolicy).
"""
