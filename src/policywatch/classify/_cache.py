"""Compiled cues kept between runs, beside the bytecode.

Compiling is most of what classifying a long diff costs a command line: Python's ``re`` parses and
assembles each pattern in pure Python (~100 µs for a typical cue, ~1 ms for the longest), the
classifier compiles a few hundred of them, and ``re`` keeps the result only in memory. Reading a
cue's anchors (``_match``) is a smaller cost of the same kind. Both depend on nothing but the
pattern's text and the interpreter, so this module keeps them in one file beside this package's
bytecode and reloads them: a cached program is handed to the same ``_sre.compile`` call
``re.compile`` ends with, so the pattern object is equal (same code) to a fresh compile.

The file follows the rules Python applies to ``.pyc`` files: it is only written where bytecode
may be written (not under ``-B`` or ``PYTHONDONTWRITEBYTECODE``; ``PYTHONPYCACHEPREFIX`` is
honoured), at interpreter exit and only when something new was compiled, atomically. It is only
read when it was written by this very interpreter build (version string, ``_sre.MAGIC``), and any
problem reading it (missing, truncated, foreign) just means compiling as usual. On an interpreter
whose ``re`` internals differ from the ones this relies on (3.11 to 3.13 share them), nothing is
cached.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import marshal
import os
import re
import sys
from array import array
from typing import Any

__all__ = ["compile", "lookup", "remember", "source_stamp"]

#: bump when the layout of the file changes
_FORMAT = 1
#: entries kept at most; a file past this is started afresh (patterns edited over time)
_LIMIT = 5_000

try:
    # re's own internals (typeshed has no stubs for them): the parser and assembler re.compile
    # runs, and the constructor it ends with
    _sre: Any = importlib.import_module("_sre")
    _compiler: Any = importlib.import_module("re._compiler")
    _parser: Any = importlib.import_module("re._parser")
    _HEADER: tuple[Any, ...] | None = (_FORMAT, sys.version, _sre.MAGIC, _sre.CODESIZE)
    if array("I").itemsize != _sre.CODESIZE or not callable(getattr(_compiler, "_code", None)):
        _HEADER = None
except (ImportError, AttributeError):  # pragma: no cover - another interpreter
    _HEADER = None

#: pattern -> (flags, code as bytes, groups, groupindex, indexgroup), as ``_sre.compile`` takes
_programs: dict[str, tuple[int, bytes, int, dict[str, int], tuple[str | None, ...]]] = {}
#: (kind, key) -> any marshal-able value derived from the key alone (``remember``)
_values: dict[tuple[str, str], Any] = {}
#: patterns and keys asked for in this process: what a file grown past ``_LIMIT`` keeps
_used: set[Any] = set()
_loaded = False
_dirty = False


def _path() -> str | None:
    import importlib.util

    try:
        pyc = importlib.util.cache_from_source(__file__)
    except (NotImplementedError, ValueError):
        return None
    return os.path.join(os.path.dirname(pyc), f"cues.{sys.implementation.cache_tag}.bin")


def _load() -> None:
    global _loaded
    _loaded = True
    if _HEADER is None:
        return
    path = _path()
    if path is None:
        return
    try:
        with open(path, "rb") as f:
            header, programs, values = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return
    if header == _HEADER and isinstance(programs, dict) and isinstance(values, dict):
        _programs.update(programs)
        _values.update(values)


def _save() -> None:
    """Write what this process compiled, with what other processes wrote meanwhile."""
    if not _dirty or sys.dont_write_bytecode:
        return
    path = _path()
    if path is None:
        return
    programs, values = dict(_programs), dict(_values)
    try:
        with open(path, "rb") as f:
            header, theirs, their_values = marshal.loads(f.read())
        if header == _HEADER:
            programs = {**theirs, **programs}
            values = {**their_values, **values}
    except (OSError, EOFError, ValueError, TypeError):
        pass
    if len(programs) + len(values) > _LIMIT:
        programs = {k: v for k, v in programs.items() if k in _used}
        values = {k: v for k, v in values.items() if k in _used}
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as f:
            marshal.dump((_HEADER, programs, values), f)
        os.replace(temporary, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _changed() -> None:
    global _dirty
    if not _dirty:
        _dirty = True
        atexit.register(_save)


def compile(pattern: str) -> re.Pattern[str]:
    """``re.compile(pattern)``, from the cached program when there is one."""
    if _HEADER is None:
        return re.compile(pattern)
    if not _loaded:
        _load()
    _used.add(pattern)
    program = _programs.get(pattern)
    if program is not None:
        flags, code, groups, groupindex, indexgroup = program
        try:
            return _sre.compile(  # type: ignore[no-any-return]
                pattern, flags, array("I", code).tolist(), groups, groupindex, indexgroup
            )
        except (TypeError, ValueError, RuntimeError):  # not a program after all: compile it
            del _programs[pattern]
    # what re._compiler.compile does, keeping the program
    parsed = _parser.parse(pattern, 0)
    words = _compiler._code(parsed, 0)
    groupindex = dict(parsed.state.groupdict)
    names: list[str | None] = [None] * parsed.state.groups
    for name, i in groupindex.items():
        names[i] = name
    flags = int(parsed.state.flags)
    groups = parsed.state.groups - 1
    compiled: re.Pattern[str] = _sre.compile(
        pattern, flags, words, groups, groupindex, tuple(names)
    )
    _programs[pattern] = (flags, array("I", words).tobytes(), groups, groupindex, tuple(names))
    _changed()
    return compiled


def source_stamp(path: str) -> str:
    """Size and modification time of a source file, as ``.pyc`` files record them: part of the
    ``kind`` of values that file's code derives, so that editing the code retires them."""
    try:
        st = os.stat(path)
    except OSError:
        return "?"
    return f"{st.st_size}:{st.st_mtime_ns}"


def lookup(kind: str, key: str) -> Any:
    """What :func:`remember` kept for ``(kind, key)`` in this or an earlier run, else None."""
    if not _loaded:
        _load()
    _used.add((kind, key))
    return _values.get((kind, key))


def remember(kind: str, key: str, value: Any) -> None:
    """Keep ``value`` (derived from ``key`` alone, marshal-able) for later runs. Values derived
    by code that may change between versions belong under a ``kind`` holding its
    :func:`source_stamp`."""
    if _HEADER is None:
        return
    _values[kind, key] = value
    _changed()
