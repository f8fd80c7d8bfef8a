"""The ``policywatch`` command: parse arguments, call the library, format, map errors to exit codes.

Exit codes: 0 success; 1 an operational failure (a source could not be read, the others were still
recorded); 2 bad input (usage, config, a file that is not a policy, an unknown revision).
Only ``click`` is imported at start-up; every command imports what it needs, so ``policywatch diff``
of two files never loads GitPython, aiohttp or SQLAlchemy.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import InputError, PolicywatchError

if TYPE_CHECKING:
    from .models import Diff, Revision
    from .tracker import Tracker

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "config.toml"


@contextmanager
def _errors() -> Iterator[None]:
    """Turn our exceptions into one clean line on stderr and the error's exit code."""
    try:
        yield
    except PolicywatchError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `policywatch log | head`
        sys.stderr.close()
        sys.exit(0)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"The site's config file (default: ./{DEFAULT_CONFIG}).",
    )(f)


def _config_path(ctx: click.Context, config_path: Path | None) -> Path:
    if config_path is not None:
        return config_path
    root = ctx.find_root()
    group_path = root.params.get("config_path") if root else None
    if isinstance(group_path, Path):
        return group_path
    return Path(os.environ.get("POLICYWATCH_CONFIG", DEFAULT_CONFIG))


def _tracker(ctx: click.Context, config_path: Path | None) -> Tracker:
    from .config import load_config
    from .tracker import Tracker

    tracker = Tracker(load_config(_config_path(ctx, config_path)))
    # the database's connections close with the command (they would linger in a test runner)
    ctx.call_on_close(tracker.close)
    return tracker


def _color(option: bool | None) -> bool:
    if option is not None:
        return option
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="policywatch", prog_name="policywatch")  # resolved lazily
@config_option
def cli(config_path: Path | None) -> None:
    """Watch published policies, archive every revision in git, and explain each change.

    Every command reads the site's config.toml (--config PATH, default ./config.toml).
    """


# -- init ----------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(directory: Path, force: bool) -> None:
    """Write a working config.toml, a sample policy, an empty archive and feeds into DIRECTORY."""
    from .scaffold import scaffold

    with _errors():
        written = scaffold(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {directory} && policywatch check")


# -- check ---------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--policy", "policies", multiple=True, metavar="ID", help="Only this policy (repeatable)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.pass_context
def check(
    ctx: click.Context, policies: tuple[str, ...], fmt: str, config_path: Path | None
) -> None:
    """Read every source once and record what changed.

    Exit 0 when every source was read, 1 when any failed (the others are still recorded).
    """
    with _errors():
        report = _tracker(ctx, config_path).check(policies)
    if fmt == "json":
        payload = {
            "schema": "policywatch.check/1",
            "results": [
                {
                    "policy": r.policy,
                    "status": r.status,
                    "revision": r.revision.id if r.revision and r.status != "error" else None,
                    "material": r.material,
                    "error": r.error,
                }
                for r in report.results
            ],
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for r in report.results:
            rev = r.revision.id[:12] if r.revision else "-"
            if r.status == "error":
                click.echo(f"{r.policy:<16} {click.style('error', fg='red')}      {r.error}")
                continue
            note = r.revision.summary if r.revision and r.status != "unchanged" else ""
            flag = click.style(" material", fg="yellow", bold=True) if r.material else ""
            click.echo(f"{r.policy:<16} {r.status:<10} {rev}{flag}  {note}".rstrip())
    sys.exit(1 if report.failed else 0)


# -- diff ----------------------------------------------------------------------------------------


def _render(diff: Diff, fmt: str, color: bool) -> str:
    from . import render

    if fmt == "json":
        return render.render_json(diff)
    if fmt == "markdown":
        return render.render_markdown(diff)
    if fmt == "html":
        return render.render_html(diff, standalone=True)
    return render.render_text(diff, color=color)


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="OLD NEW | POLICY [FROM [TO]]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "--color/--no-color", default=None, help="Colour the text output (default: when a terminal)."
)
@config_option
@click.pass_context
def diff(
    ctx: click.Context,
    args: tuple[str, ...],
    fmt: str,
    color: bool | None,
    config_path: Path | None,
) -> None:
    """Semantic clause diff of two files, or of two archived revisions of a policy.

    \b
    policywatch diff old.md new.md          two files, like git diff --no-index
    policywatch diff privacy                the latest change of a policy
    policywatch diff privacy 2024-05-01     from the revision in force that day to the latest
    policywatch diff privacy latest~3 latest~1
    """
    use_color = _color(color)
    with _errors():
        result = _diff(ctx, args, config_path)
        out = _render(result, fmt, use_color)
    click.echo(out, nl=not out.endswith("\n"), color=use_color)


def _diff(ctx: click.Context, args: tuple[str, ...], config_path: Path | None) -> Diff:
    """Files when the first argument is a path or cannot be a policy id, else revisions."""
    first = args[0]
    policy_mode = (
        not Path(first).exists()
        and _could_be_policy(first)
        and _config_path(ctx, config_path).exists()
    )
    if policy_mode:
        if len(args) > 3:
            raise click.UsageError("expected POLICY [FROM [TO]]")
        return _tracker(ctx, config_path).diff(first, *args[1:])
    if len(args) != 2:
        raise click.UsageError("expected two files, OLD NEW (or POLICY [FROM [TO]])")
    from .semantic import diff_files

    return diff_files(Path(args[0]), Path(args[1]))


def _could_be_policy(name: str) -> bool:
    from .config import POLICY_ID  # only when no such file: the config module costs ~10 ms

    return POLICY_ID.match(name) is not None


# -- log / show ----------------------------------------------------------------------------------


def _revision_json(r: Revision) -> dict[str, Any]:
    return {
        "policy": r.policy,
        "revision": r.id,
        "date": r.date.isoformat(),
        "kind": r.kind,
        "material": r.material,
        "summary": r.summary,
        "categories": list(r.categories),
        "restores": r.restores,
    }


@cli.command()
@click.argument("policy", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=None, help="Show at most N revisions."
)
@config_option
@click.pass_context
def log(
    ctx: click.Context, policy: str | None, fmt: str, limit: int | None, config_path: Path | None
) -> None:
    """Revision history, newest first (all policies, or one), and any source failing to be read."""
    from .schedule import schedule_status

    with _errors():
        tracker = _tracker(ctx, config_path)
        revisions = tracker.log(policy)
        sources = [s for s in schedule_status(tracker) if policy is None or s.policy == policy]
    if limit is not None:
        revisions = revisions[:limit]
    if fmt == "json":
        payload = {
            "schema": "policywatch.log/1",
            "revisions": [_revision_json(r) for r in revisions],
            "sources": [
                {
                    "policy": s.policy,
                    "failures": s.failures,
                    "last_error": s.last_error,
                    "last_run": s.last_run.isoformat() if s.last_run else None,
                    "next_run": s.next_run.isoformat() if s.next_run else None,
                    "backoff_until": s.backoff_until.isoformat() if s.backoff_until else None,
                }
                for s in sources
            ],
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    for s in sources:
        if s.failures:
            until = (
                f"; left alone until {s.backoff_until:%Y-%m-%d %H:%M} UTC"
                if s.backoff_until
                else ""
            )
            click.secho(
                f"{s.policy}: failing, {s.failures} time(s) in a row{until}: {s.last_error}",
                fg="red",
                err=True,
            )
    if not revisions:
        click.echo("no revisions yet: run `policywatch check`")
        return
    for r in revisions:
        date = r.date.strftime("%Y-%m-%d %H:%M")
        mark = click.style("material", fg="yellow", bold=True) if r.material else " " * 8
        restored = f" (restores {r.restores[:12]})" if r.restores else ""
        click.echo(f"{date}  {r.id[:12]}  {r.policy:<12} {r.kind:<9} {mark}  {r.summary}{restored}")


@cli.command()
@click.argument("policy")
@click.argument("revision", default="latest")
@config_option
@click.pass_context
def show(ctx: click.Context, policy: str, revision: str, config_path: Path | None) -> None:
    """Print the text of a revision (default: the latest)."""
    with _errors():
        _, text = _tracker(ctx, config_path).show(policy, revision)
    click.echo(text, nl=not text.endswith("\n"))


# -- classify --------------------------------------------------------------------------------------


@cli.command()
@click.argument("file", default="-")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
)
def classify(file: str, fmt: str) -> None:
    """The OPP-115 categories of each clause of FILE (or stdin).

    With --format jsonl, stdin carries one {"id": ..., "text": ...} per line and stdout answers one
    {"id": ..., "categories": [...]} per line, in order.
    """
    from .classify import categorize

    with _errors():
        if fmt == "jsonl":
            lines = _read_jsonl(file)
            out = [
                json.dumps({"id": i, "categories": list(categorize(t))}, ensure_ascii=False)
                for i, t in lines
            ]
            if out:
                click.echo("\n".join(out))
            return
        from .clauses import segment

        document = _read_input(file)
        clauses = segment(document)
        rows = [(c, categorize(c.text, c.section)) for c in clauses]
    if fmt == "json":
        payload = {
            "schema": "policywatch.classify/1",
            "clauses": [
                {
                    "index": c.index,
                    "kind": c.kind,
                    "section": list(c.section),
                    "text": c.text,
                    "categories": list(cats),
                }
                for c, cats in rows
            ],
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    section: tuple[str, ...] | None = None
    for c, cats in rows:
        if c.kind == "heading":
            click.secho(c.text, bold=True)
            section = (*c.section, c.text)
            continue
        if c.section != section:
            section = c.section
        label = ", ".join(cats) if cats else "-"
        click.echo(f"  [{click.style(label, fg='cyan')}] {c.text}")


def _read_input(file: str) -> Any:
    from .extract import read_document

    if file == "-":
        import tempfile

        data = sys.stdin.buffer.read()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stdin.md"
            path.write_bytes(data)
            doc = read_document(path)
        return doc
    return read_document(Path(file))


def _read_jsonl(file: str) -> list[tuple[Any, str]]:
    stream = sys.stdin if file == "-" else None
    try:
        text = stream.read() if stream else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read jsonl input: {exc}", path=file) from None
    rows: list[tuple[Any, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not JSON ({exc.msg})", path=file) from None
        if not isinstance(item, dict) or "text" not in item or not isinstance(item["text"], str):
            raise InputError(f'line {number}: expected {{"id": ..., "text": "..."}}', path=file)
        rows.append((item.get("id"), item["text"]))
    return rows


# -- import ----------------------------------------------------------------------------------------


@cli.command(name="import")
@click.argument("repo", type=click.Path(path_type=Path))
@click.option("--path", "path", required=True, help="The file's path inside REPO.")
@click.option(
    "--policy", "policy", required=True, metavar="ID", help="The policy id to import into."
)
@config_option
@click.pass_context
def import_(
    ctx: click.Context, repo: Path, path: str, policy: str, config_path: Path | None
) -> None:
    """Backfill a policy's history from every commit touching PATH in another git repository."""
    from .config import POLICY_ID

    with _errors():
        if not POLICY_ID.match(policy):
            raise InputError(f"--policy {policy!r}: expected lower-case letters, digits and dashes")
        report = _tracker(ctx, config_path).import_history(repo, path, policy)
    span = ""
    if report.first and report.last:
        span = f", {report.first:%Y-%m-%d} to {report.last:%Y-%m-%d}"
    click.echo(
        f"imported {report.imported} revision(s) of {policy} from {repo}:{path}{span}"
        f" ({report.skipped} unchanged skipped, {report.already} already archived,"
        f" {report.restores} restoring an earlier text)"
    )


# -- serve -----------------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port, printed on start).",
)
@config_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, config_path: Path | None) -> None:
    """Run the web app, the scheduler and the mail sender in one process.

    Checks each policy on its schedule (one process per archive does; others stand by), sends
    queued emails every few seconds, and serves the archive, feeds, API and subscription pages.
    Stops cleanly on SIGINT or SIGTERM. Put it behind a reverse proxy for TLS.
    """
    import asyncio
    import logging

    from .config import load_config
    from .serve import run

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("alembic", "apscheduler"):  # policywatch logs what matters of theirs
        logging.getLogger(chatty).setLevel(logging.WARNING)

    def ready(urls: Any) -> None:
        for url in urls:
            click.echo(f"policywatch serving {url}")
        sys.stdout.flush()

    with _errors():
        config = load_config(_config_path(ctx, config_path))
        asyncio.run(run(config, host=host, port=port, ready=ready))


def main() -> None:
    """The ``policywatch`` command.

    On the way out every object still alive is frozen, so the interpreter's shutdown no longer
    walks them all in its final garbage collections: with aiohttp and the archive loaded that
    walk took ~0.1 s, a fifth of an unchanged ``check`` of 1,000 sources. Nothing is lost by it:
    every file a command writes is closed before it returns, and the standard streams are flushed
    at exit as always.
    """
    try:
        cli(prog_name="policywatch")
    finally:
        gc.freeze()


from . import cli_admin as _cli_admin  # noqa: E402  (registers its commands on `cli`)

_ = _cli_admin
