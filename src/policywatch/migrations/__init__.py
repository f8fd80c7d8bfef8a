"""Alembic migrations of the policywatch database, shipped in the wheel.

Configured in code by :mod:`policywatch.store.migrate`; there is no alembic.ini.
"""
