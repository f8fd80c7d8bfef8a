"""The archive's own line to git: plain ``git`` subprocesses, ref files read directly, and one
persistent ``cat-file --batch`` process for objects.

Why not GitPython here (it stays for :mod:`policywatch.history`, which reads other people's
repositories): the archive needs a handful of plumbing commands, and GitPython cost every command
that opens the archive ~50 ms of imports plus a ``cat-file`` process just to learn the tip. A
``policywatch check`` of 1,000 unchanged sources takes about half a second in all, so that was a
tenth of it; the web app asks for the tip on every request to validate its caches, and a ref is a
small file. Decision record 0010.

Everything here is synchronous and thread-safe (the web app reads from worker threads while the
scheduler writes). Failures raise :class:`GitFailed` with git's own message; the archive turns
them into :class:`~policywatch.errors.ArchiveError` naming the archive.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path
from typing import IO, Final

__all__ = ["Git", "GitFailed", "NotARepository"]

_SHA: Final = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class GitFailed(Exception):
    """A git command failed; ``message`` is what git said on stderr (or the exit status)."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"git {command} failed: {message}")
        self.command = command
        self.message = message


class NotARepository(Exception):
    """``path`` exists but holds no git repository (``missing`` when it does not exist)."""

    def __init__(self, path: Path, *, missing: bool = False) -> None:
        super().__init__(f"{path}: {'no such directory' if missing else 'not a git repository'}")
        self.path = path
        self.missing = missing


def _git_dir(path: Path) -> tuple[Path, bool]:
    """The repository's git directory and whether it is bare, without running git."""
    if not path.is_dir():
        raise NotARepository(path, missing=not path.exists())
    dot = path / ".git"
    if dot.is_dir():
        return dot, False
    if dot.is_file():  # a linked worktree or a submodule: "gitdir: <path>"
        first = dot.read_text(encoding="utf-8").strip()
        if first.startswith("gitdir:"):
            target = Path(first.removeprefix("gitdir:").strip())
            target = target if target.is_absolute() else (path / target)
            if (target / "HEAD").is_file():
                return target.resolve(), False
        raise NotARepository(path)
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path, True
    raise NotARepository(path)


class Git:
    """One repository: run commands in it, read refs, read objects."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.git_dir, self.bare = _git_dir(self.path)
        # refs live in the common directory of a linked worktree
        common = self.git_dir / "commondir"
        self.common_dir = (
            (self.git_dir / common.read_text(encoding="utf-8").strip()).resolve()
            if common.is_file()
            else self.git_dir
        )
        #: refs in git's newer `reftable` format: read through git, not from files
        self.reftable = (self.common_dir / "reftable").exists()
        self._lock = threading.Lock()
        self._batch: subprocess.Popen[bytes] | None = None

    @staticmethod
    def init(path: Path, *, branch: str = "main") -> None:
        """``git init`` a new repository at ``path`` (which may exist and be empty)."""
        _run(["git", "init", "--quiet", f"--initial-branch={branch}", str(path)], None, "init")

    # -- commands --------------------------------------------------------------------------------

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        """Run ``git *args`` here and return its output (one trailing newline removed)."""
        out = _run(["git", *args], stdin, args[0], cwd=self.path)
        text = out.decode("utf-8", errors="replace")
        return text[:-1] if text.endswith("\n") else text

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``git *args`` here with a pipe to its standard input; the caller owns it."""
        try:
            return subprocess.Popen(
                ["git", *args],
                cwd=self.path,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise GitFailed(args[0], exc.strerror or str(exc)) from exc

    # -- refs --------------------------------------------------------------------------------------

    def ref(self, name: str) -> str | None:
        """The commit id a full ref name (``refs/heads/main``) points at; None if it does not
        exist. Read from the ref files as git writes them (a loose file, replaced atomically, else
        ``packed-refs``), so asking costs no process: the web app asks on every request."""
        if not name.startswith("refs/") or ".." in name:
            raise ValueError(f"not a full ref name: {name!r}")
        if self.reftable:  # another ref storage: let git read it
            try:
                out = self.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
            except GitFailed:
                return None
            return out.strip() or None
        try:
            loose = (self.common_dir / name).read_text(encoding="ascii").strip()
        except (FileNotFoundError, NotADirectoryError):
            loose = None
        except (OSError, UnicodeDecodeError) as exc:
            raise GitFailed("rev-parse", f"cannot read {name}: {exc}") from exc
        if loose is not None:
            if _SHA.fullmatch(loose):
                return loose
            if loose.startswith("ref: "):  # a symbolic ref
                return self.ref(loose.removeprefix("ref: ").strip())
            raise GitFailed("rev-parse", f"{name} holds {loose[:60]!r}, not a commit id")
        return self._packed(name)

    def _packed(self, name: str) -> str | None:
        try:
            packed = (self.common_dir / "packed-refs").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise GitFailed("rev-parse", f"cannot read packed-refs: {exc}") from exc
        suffix = " " + name
        for line in packed.splitlines():
            if line.endswith(suffix) and not line.startswith(("#", "^")):
                sha = line[: -len(suffix)]
                if _SHA.fullmatch(sha):
                    return sha
        return None

    # -- objects -----------------------------------------------------------------------------------

    def read_object(self, name: str) -> bytes | None:
        """The content of an object (``<commit>:<path>`` works), None if there is none.

        Through one ``git cat-file --batch`` process kept open: one process per read would cost
        more than the read. Restarted once if it died (a repack, a killed child)."""
        if "\n" in name:
            raise ValueError(f"bad object name {name!r}")
        with self._lock:
            for attempt in (1, 2):
                proc = self._batch_process()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(name.encode("utf-8") + b"\n")
                    proc.stdin.flush()
                    return _read_batch_answer(proc.stdout, name)
                except (BrokenPipeError, ConnectionResetError, EOFError) as exc:
                    self._stop_batch()
                    if attempt == 2:
                        raise GitFailed("cat-file", f"the reader process died: {exc}") from exc
        raise AssertionError("unreachable")

    def _batch_process(self) -> subprocess.Popen[bytes]:
        if self._batch is not None and self._batch.poll() is not None:
            self._stop_batch()  # it exited (killed, or git gone): free its pipes first
        if self._batch is None:
            try:
                self._batch = subprocess.Popen(
                    ["git", "cat-file", "--batch"],
                    cwd=self.path,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as exc:
                raise GitFailed("cat-file", exc.strerror or str(exc)) from exc
        return self._batch

    def _stop_batch(self) -> None:
        proc, self._batch = self._batch, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is None:
                continue
            try:
                stream.close()
            except OSError:  # unflushed input to a dead reader: drop it, free the descriptor
                raw = getattr(stream, "raw", None)
                if raw is not None:
                    raw.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop the persistent reader (it ends by itself when its input closes)."""
        with self._lock:
            self._stop_batch()

    def __del__(self) -> None:
        # an archive nobody closed must not leave a reader process and two pipes behind
        if getattr(self, "_batch", None) is not None:
            self._stop_batch()


def _read_batch_answer(out: IO[bytes], name: str) -> bytes | None:
    header = out.readline()
    if not header:
        raise EOFError("no answer")
    fields = header.rstrip(b"\n").split(b" ")
    if fields[-1] in (b"missing", b"ambiguous"):
        return None
    if len(fields) != 3:
        raise GitFailed("cat-file", f"unexpected answer for {name}: {header[:80]!r}")
    size = int(fields[2])
    data = out.read(size + 1)  # the content, then a newline
    if len(data) != size + 1:
        raise EOFError("the answer was cut short")
    return data[:size]


def _run(argv: list[str], stdin: bytes | None, what: str, *, cwd: Path | None = None) -> bytes:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise GitFailed(what, exc.strerror or str(exc)) from exc
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", errors="replace").strip()
        raise GitFailed(what, err or f"exit status {done.returncode}")
    return done.stdout
