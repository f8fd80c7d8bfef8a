"""Clause -> OPP-115 categories; clause change -> material or not (placeholder)."""

from __future__ import annotations

from ._categories import categorize

__all__ = ["categorize"]
