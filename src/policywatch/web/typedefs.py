"""The web app's state, declared once as typed keys (aiohttp-demos ``typedefs.py``).

A module of its own so that handlers can import the keys without importing the factory (which
imports the handlers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import jinja2
from aiohttp import web

from ..config import Config
from .reader import Publisher, Stamps
from .responses import PageCache

__all__ = ["ASSETS", "CONFIG", "PAGES", "PUBLISHER", "STAMPS", "TEMPLATES", "Assets"]


@dataclass(frozen=True, slots=True)
class Assets:
    """What, besides the archive, a page's bytes depend on.

    ``version`` hashes the templates, the static files, the policywatch version and the config,
    so a deploy or a config edit invalidates every ETag; ``modified`` is the newest of their
    mtimes (a floor for Last-Modified, for clients that only send If-Modified-Since).
    """

    version: str
    modified: datetime


CONFIG = web.AppKey("config", Config)
PUBLISHER = web.AppKey("publisher", Publisher)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
PAGES = web.AppKey("pages", PageCache)
STAMPS = web.AppKey("stamps", Stamps)
ASSETS = web.AppKey("assets", Assets)
