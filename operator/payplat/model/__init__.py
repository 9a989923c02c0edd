"""The model: what a PaymentPlatform is, independent of how it is built.

Owns the pydantic spec (every default and validation rule), the CRD generated from it,
the YAML reader, a platform's identity (stack name, suffix) and tenancy (what it may
use). Pure: imports nothing of payplat outside this package, and no I/O library.
"""
