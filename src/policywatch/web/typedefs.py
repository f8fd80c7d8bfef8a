"""The web app's state, declared once as typed keys (aiohttp-demos ``typedefs.py``).

A module of its own so that handlers can import the keys without importing the factory (which
imports the handlers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import jinja2
from aiohttp import web

from ..config import Config
from ..subscriptions import ConfirmationSender, Limits
from ..tracker import Tracker
from .clients import Network
from .reader import Publisher, Stamps
from .responses import PageCache

__all__ = [
    "ACCOUNTS",
    "ASSETS",
    "CONFIG",
    "HEALTH",
    "PAGES",
    "PUBLISHER",
    "STAMPS",
    "TEMPLATES",
    "Accounts",
    "Assets",
    "Probe",
]


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


@dataclass(slots=True)
class Accounts:
    """What the subscription pages and the opt-out API work with.

    ``store_lock`` makes the first use of the tracker's lazily opened database happen once,
    whichever worker thread gets there first. ``api_token`` is ``POLICYWATCH_API_TOKEN`` (None:
    ``/api/optouts`` does not exist). ``nudge``, set by ``serve``, wakes the background sender
    when an objection is recorded, so the webhook hears of it in seconds, not at the next cycle.
    """

    tracker: Tracker
    confirmations: ConfirmationSender
    limits: Limits
    api_token: str | None = field(default=None, repr=False)
    nudge: Callable[[], None] | None = None
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    #: ``[site] trusted_proxies``: whose X-Forwarded-For names the client (see ``clients``)
    proxies: tuple[Network, ...] = ()


ACCOUNTS = web.AppKey("accounts", Accounts)

#: what ``/healthz`` reports about this process's background parts, by name: each probe returns
#: (state, healthy); an unhealthy one makes the answer 503. ``serve`` registers the mail sender
#: and the scheduler: a process whose sender thread died serves pages but mails nobody.
Probe = Callable[[], tuple[str, bool]]
HEALTH = web.AppKey("health", dict[str, Probe])
