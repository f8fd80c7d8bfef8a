"""The semantic diff with categories and materiality: the one place the stages are chained.

Kept apart from :mod:`policywatch.tracker` so that ``policywatch diff OLD NEW`` (no config, no
archive) loads only the text, diff and classify stages: it is meant to cost little more than
``git diff --word-diff`` (see bench/diff.md).
"""

from __future__ import annotations

from pathlib import Path

from .models import Diff, Document, Side

__all__ = ["diff_documents", "diff_files"]


def diff_documents(
    old: Document | str, new: Document | str, *, old_side: Side, new_side: Side
) -> Diff:
    """Segment, align, word-diff, then classify and judge materiality."""
    from .classify import annotate
    from .diff import compare

    return compare(old, new, old_side=old_side, new_side=new_side, annotate=annotate)


def diff_files(old: Path, new: Path) -> Diff:
    """``policywatch diff OLD NEW``: two files, no archive, no config."""
    from .extract import read_document

    old_doc, new_doc = read_document(old), read_document(new)
    return diff_documents(
        old_doc, new_doc, old_side=Side(name=str(old)), new_side=Side(name=str(new))
    )
