"""Text normalisation shared by the category rules and the materiality analysis.

Every rule in this package is written against lower-case text with typographic quotes, dashes and
non-breaking spaces folded to ASCII, so no pattern needs ``re.IGNORECASE`` (slower) or has to
spell out curly apostrophes (``don’t``) next to straight ones.
"""

from __future__ import annotations

import re

__all__ = ["fold"]

_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": " - ",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
    }
)
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case ``text`` and fold quotes, dashes and odd spaces to their ASCII forms."""
    return _SPACES.sub(" ", text.translate(_FOLD).lower()).strip()
