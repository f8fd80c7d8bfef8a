"""The public web archive: ``create_app(config) -> aiohttp.web.Application``."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
