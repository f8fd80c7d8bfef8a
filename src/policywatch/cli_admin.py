"""Commands for the site's operator: notify, the opt-out ledger, subscribers, the database.

Registered on the ``policywatch`` group by :mod:`policywatch.cli`; like every command they only
parse, call the library and format, and they import what they need when they run.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from .cli import _errors, _tracker, cli, config_option
from .errors import InputError

# -- notify --------------------------------------------------------------------------------------


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from .config import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (expected e.g. 30s, 10m, 1h)") from None


@cli.command()
@click.option(
    "--lease",
    callback=_duration,
    default=None,
    metavar="DURATION",
    help="How long claimed emails stay with this sender before another may take them, if it "
    "dies (default 10m; longer than a batch takes to send).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Emails claimed at a time.",
)
@config_option
@click.pass_context
def notify(ctx: click.Context, lease: Any, batch: int, config_path: Path | None) -> None:
    """Send the queued change emails (serve does this continuously).

    Exit 1 when the mail server itself failed (nothing was suppressed; the rest stays queued).
    """
    import asyncio

    from .mail import SmtpMailer
    from .notify import LEASE, notify_owner

    with _errors():
        tracker = _tracker(ctx, config_path)
        queued = tracker.notifier.reconcile()

        async def run() -> Any:
            mailer = SmtpMailer(tracker.config.mail)
            try:
                return await tracker.notifier.send(
                    mailer, owner=notify_owner(), batch=batch, lease=lease or LEASE
                )
            finally:
                await mailer.close()

        report = asyncio.run(run())
        counts = tracker.store.outbox_counts()
        hook = _deliver_webhook(tracker) if tracker.config.optouts.webhook else None
    if queued:
        click.echo(f"queued {queued} email(s) the database had missed")
    click.echo(
        f"sent {report.sent}, to retry {report.retried}, failed {report.failed}; "
        f"outbox: {', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'empty'}"
    )
    if hook is not None:
        click.echo(f"opt-out webhook: delivered {hook.delivered}")
        if hook.error:
            click.secho(f"warning: the opt-out webhook failed: {hook.error}", fg="yellow", err=True)
    if report.fatal:
        click.secho(f"error: the mail server failed: {report.fatal}", fg="red", err=True)
        sys.exit(1)


def _deliver_webhook(tracker: Any) -> Any:
    """New objections to ``[optouts] webhook`` (serve does this continuously)."""
    import asyncio

    import aiohttp

    from .notify import notify_owner
    from .webhook import OptoutWebhook

    async def run() -> Any:
        async with aiohttp.ClientSession() as session:
            return await OptoutWebhook(tracker, owner=notify_owner()).deliver(session)

    return asyncio.run(run())


# -- optouts -------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option("--policy", default=None, metavar="ID", help="Only objections to this policy.")
@click.option("--after", type=int, default=0, help="Only entries with an id above this (polling).")
@click.option(
    "--webhook-secret",
    is_flag=True,
    help="Print the secret the [optouts] webhook signs its requests with, and nothing else.",
)
@config_option
@click.pass_context
def optouts(
    ctx: click.Context,
    fmt: str,
    policy: str | None,
    after: int,
    webhook_secret: bool,
    config_path: Path | None,
) -> None:
    """The opt-out ledger: every objection to new uses, for the site's own systems to honour."""
    from .subscriptions import optout_dict as optout_json

    if webhook_secret:
        from .webhook import webhook_secret as secret_of

        with _errors():
            click.echo(secret_of(_tracker(ctx, config_path)))
        return
    with _errors():
        rows = [
            optout_json(o)
            for o in _tracker(ctx, config_path).store.optouts(after=after, policy=policy)
        ]
    if fmt == "json":
        click.echo(json.dumps({"schema": "policywatch.optouts/1", "optouts": rows}, indent=2))
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(OPTOUT_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
    click.echo(out.getvalue(), nl=False)


OPTOUT_FIELDS = (
    "id",
    "created_at",
    "policy",
    "revision",
    "change_id",
    "categories",
    "channel",
    "email",
    "email_hash",
)


# -- subscribers ---------------------------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Manage subscribers: add, list, remove, import, forget."""


def _policies(tracker: Any, policies: tuple[str, ...]) -> tuple[str, ...]:
    known = {p.id for p in tracker.config.policies}
    unknown = [p for p in policies if p not in known]
    if unknown:
        raise InputError(
            f"unknown policy {', '.join(unknown)} (configured: {', '.join(sorted(known))})"
        )
    return policies


@subscribers.command("add")
@click.argument("emails", nargs=-1, required=True, metavar="EMAIL...")
@click.option("--policy", "policies", multiple=True, metavar="ID", help="Repeatable; default all.")
@click.option("--scope", type=click.Choice(["all", "material"]), default="all", show_default=True)
@config_option
@click.pass_context
def subscribers_add(
    ctx: click.Context,
    emails: tuple[str, ...],
    policies: tuple[str, ...],
    scope: str,
    config_path: Path | None,
) -> None:
    """Subscribe addresses the site already holds consent for (confirmed at once)."""
    from .addresses import valid_email

    with _errors():
        tracker = _tracker(ctx, config_path)
        wanted = _policies(tracker, policies)
        addresses = [valid_email(e) for e in emails]  # all checked before any is stored
        for address in addresses:
            sub = tracker.store.subscribe(
                address,
                wanted,
                scope,  # type: ignore[arg-type]
                confirmed=True,
                source="admin",
            )
            click.echo(f"{address}: {sub.status}")


@subscribers.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.pass_context
def subscribers_list(ctx: click.Context, fmt: str, config_path: Path | None) -> None:
    """Every subscriber with status and subscriptions."""
    with _errors():
        subs = _tracker(ctx, config_path).store.list_subscribers()
    rows: list[dict[str, Any]] = [
        {
            "id": s.id,
            "email": s.email,
            "status": s.status,
            "source": s.source,
            "created_at": s.created_at.isoformat(),
            "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            "subscriptions": [
                {
                    "policy": x.policy,
                    "scope": x.scope,
                    "categories": list(x.categories) if x.categories is not None else None,
                    "pending": x.pending,
                }
                for x in s.subscriptions
            ],
        }
        for s in subs
    ]
    if fmt == "json":
        click.echo(
            json.dumps({"schema": "policywatch.subscribers/1", "subscribers": rows}, indent=2)
        )
        return
    if not rows:
        click.echo("no subscribers")
    for r in rows:
        what = ", ".join(
            f"{x['policy'] if x['policy'] != '*' else 'all policies'} ({x['scope']})"
            + (" pending" if x["pending"] else "")
            for x in r["subscriptions"]
        )
        click.echo(f"{r['email'] or '(forgotten)':<32} {r['status']:<13} {what}")


@subscribers.command("remove")
@click.argument("emails", nargs=-1, required=True, metavar="EMAIL...")
@config_option
@click.pass_context
def subscribers_remove(
    ctx: click.Context, emails: tuple[str, ...], config_path: Path | None
) -> None:
    """Unsubscribe addresses (they get nothing more; the ledger keeps their objections)."""
    with _errors():
        tracker = _tracker(ctx, config_path)
        missing = [e for e in emails if tracker.store.find_subscriber(e) is None]
        if missing:
            raise InputError(f"not a subscriber: {', '.join(missing)}")
        for email in emails:
            tracker.store.remove(email)
            click.echo(f"{email}: removed")


@subscribers.command("forget")
@click.argument("email")
@config_option
@click.pass_context
def subscribers_forget(ctx: click.Context, email: str, config_path: Path | None) -> None:
    """Erase an address: personal data gone, a hashed suppression kept (never mailed again)."""
    with _errors():
        found = _tracker(ctx, config_path).store.forget(email)
    click.echo(f"{email}: forgotten" if found else f"{email}: not known; suppressed anyway")


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--scope",
    type=click.Choice(["all", "material"]),
    default="all",
    show_default=True,
    help="Scope for rows without a scope column.",
)
@config_option
@click.pass_context
def subscribers_import(
    ctx: click.Context, file: Path, scope: str, config_path: Path | None
) -> None:
    """Subscribe every address of a CSV file (columns: email, and optionally policy, scope).

    Every row is checked first; one bad row stores nothing.
    """
    from .addresses import valid_email

    with _errors():
        tracker = _tracker(ctx, config_path)
        rows = _read_csv(file)
        known = {p.id for p in tracker.config.policies}
        plan: list[tuple[str, tuple[str, ...], str]] = []
        for number, row in rows:
            where = f"{file}: line {number}"
            try:
                address = valid_email(row.get("email", ""))
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
            policies = tuple(p.strip() for p in (row.get("policy") or "").split(";") if p.strip())
            unknown = [p for p in policies if p not in known]
            if unknown:
                raise InputError(f"{where}: unknown policy {', '.join(unknown)}")
            row_scope = (row.get("scope") or scope).strip()
            if row_scope not in ("all", "material"):
                raise InputError(f"{where}: scope must be all or material, got {row_scope!r}")
            plan.append((address, policies, row_scope))
        for address, policies, row_scope in plan:
            tracker.store.subscribe(
                address,
                policies,
                row_scope,  # type: ignore[arg-type]
                confirmed=True,
                source=f"import:{file.name}",
            )
    click.echo(f"imported {len(plan)} subscriber(s) from {file}")


def _read_csv(file: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(file)) from None
    lines = text.splitlines()
    if not lines:
        raise InputError("empty file", path=str(file))
    first = [c.strip().lower() for c in next(csv.reader([lines[0]]))]
    if "email" in first:
        reader = csv.DictReader(io.StringIO(text))
        return [
            (n, {(k or "").strip().lower(): (v or "") for k, v in row.items()})
            for n, row in enumerate(reader, 2)
        ]
    fields = ["email", "policy", "scope"]
    return [
        (n, dict(zip(fields, (c.strip() for c in cells), strict=False)))
        for n, cells in enumerate(csv.reader(io.StringIO(text)), 1)
        if cells and any(c.strip() for c in cells)
    ]


# -- db ------------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
@click.pass_context
def db_upgrade(ctx: click.Context, config_path: Path | None) -> None:
    """Apply database migrations (serve and check also do it on start)."""
    from .config import load_config
    from .store import Store

    with _errors():
        config = load_config(_config_path_for(ctx, config_path))
        store = Store.open(config.database.url, migrate=False)
        try:
            before = store.current_revision()
            after = store.upgrade()
        finally:
            store.close()
    click.echo(
        f"database at {after}" + (f" (was {before})" if before != after else " (up to date)")
    )


def _config_path_for(ctx: click.Context, config_path: Path | None) -> Path:
    from .cli import _config_path

    return _config_path(ctx, config_path)
