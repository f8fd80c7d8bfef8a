"""Compiled cues kept between runs (policywatch.classify._cache).

What a user relies on: a cue loaded from the file matches exactly what a fresh ``re.compile`` of
it matches (``re.Pattern`` equality compares the compiled code), and a missing, damaged or foreign
file, or a read-only interpreter, only means compiling as usual.
"""

from __future__ import annotations

import marshal
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policywatch.classify import _cache, _lexicon, _match
from policywatch.classify._categories import _BODY_RULES, _HEADING_RULES
from policywatch.classify._facts import _CUES
from policywatch.classify._match import CueSet

PATTERNS = sorted(
    {
        *(p for cues in (_CUES, _BODY_RULES.cues, _HEADING_RULES.cues) for p in cues.patterns),
        *(v.pattern for v in vars(_lexicon).values() if isinstance(v, re.Pattern)),
    }
)


@pytest.fixture
def cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache in memory, backed by a file of this test's own."""
    path = tmp_path / "__pycache__" / "cues.bin"
    monkeypatch.setattr(_cache, "_path", lambda: str(path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    _forget(monkeypatch)
    yield path


def _forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a new process knows: nothing until the file is read."""
    monkeypatch.setattr(_cache, "_programs", {})
    monkeypatch.setattr(_cache, "_values", {})
    monkeypatch.setattr(_cache, "_used", set())
    monkeypatch.setattr(_cache, "_loaded", False)
    monkeypatch.setattr(_cache, "_dirty", False)


def test_a_cached_program_is_the_pattern_re_compile_builds(cache_file: Path) -> None:
    fresh = [_cache.compile(p) for p in PATTERNS]
    again = [_cache.compile(p) for p in PATTERNS]  # built from the kept programs
    for pattern, a, b in zip(PATTERNS, fresh, again, strict=True):
        assert a == b == re.compile(pattern), pattern


def test_programs_survive_a_restart_through_the_file(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "we may share your e-mail address with advertising partners in the united states"
    before = [[m.span() for m in _cache.compile(p).finditer(text)] for p in PATTERNS]
    _cache._save()
    assert cache_file.exists()

    _forget(monkeypatch)
    after = [[m.span() for m in _cache.compile(p).finditer(text)] for p in PATTERNS]
    assert after == before
    assert set(_cache._programs) == set(PATTERNS)  # read from the file, not compiled again
    assert not _cache._dirty  # so nothing to write at exit


def test_cue_sets_read_from_the_file_find_the_same(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "you can opt out of the sale of your personal information; we retain logs for 30 days"
    patterns = _BODY_RULES.cues.patterns
    want = [(i, m.span()) for i, m in CueSet(patterns).find(text)]
    _cache._save()
    _forget(monkeypatch)
    got = [(i, m.span()) for i, m in CueSet(patterns).find(text)]
    assert got == want
    assert _cache._values  # the anchors came from the file


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00garbage",
        marshal.dumps(("another", "layout")),
        marshal.dumps(((0, "3.0.0 (another interpreter)", 0, 4), {r"\bx\b": None}, {})),
    ],
    ids=["empty", "garbage", "other-layout", "other-interpreter"],
)
def test_a_damaged_or_foreign_file_is_ignored(cache_file: Path, content: bytes) -> None:
    cache_file.parent.mkdir()
    cache_file.write_bytes(content)
    assert _cache.compile(r"\bx\b") == re.compile(r"\bx\b")
    assert _cache.lookup("anything", r"\bx\b") is None


def test_a_program_re_rejects_is_compiled_afresh(cache_file: Path) -> None:
    _cache._load()
    _cache._programs[r"\bx\b"] = (32, b"\xff\xff\x00\x00", 0, {}, (None,))
    assert _cache.compile(r"\bx\b") == re.compile(r"\bx\b")


def test_nothing_is_written_where_bytecode_may_not_be(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    _cache.compile(r"\bnew pattern\b")
    _cache._save()
    assert not cache_file.exists()


def test_an_unwritable_place_is_not_an_error(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(_cache, "_path", lambda: str(blocker / "cues.bin"))
    _cache.compile(r"\bnew pattern\b")
    _cache._save()  # no exception
    assert blocker.read_text() == "not a directory"


def test_anchors_are_kept_under_the_version_of_the_code_that_read_them(tmp_path: Path) -> None:
    assert _cache.source_stamp(_match.__file__) in _match._ALTERNATIVES
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    before = _cache.source_stamp(str(source))
    source.write_text("x = 22\n")
    assert _cache.source_stamp(str(source)) != before
