"""Compliance core: rule packs, the gate, permits, script lint.

The gate (:mod:`callbox.compliance.gate`) is the only code that can create a :class:`Permit`, and a
line dials only after redeeming one (:mod:`callbox.compliance.permit`).
"""
