"""Is this text the policy? Checks applied to a fetched page before it may become a revision.

Error pages, bot walls, cookie walls and truncated pages have all been recorded as "new versions"
by other archives and cleaned up by hand afterwards. A watched web page gets the benefit of no
doubt: a text that is near-empty, looks like a challenge page, or shrank drastically against the
last revision is an error for that source, not a revision. A drastic shrink is recorded once the
next fetch confirms the same text, because policies do get shorter on purpose.
"""

from __future__ import annotations

import re
from itertools import islice

from .errors import ExtractError

__all__ = ["MIN_WORDS", "SHRINK_RATIO", "check_text", "shrank", "word_count"]

#: fewer words than this is not a policy (an error page, a placeholder, a failed render)
MIN_WORDS = 40
#: a new text under this fraction of the last revision's words waits for confirmation
SHRINK_RATIO = 0.5
#: a challenge phrase only condemns a short page: a long policy may mention captchas
_CHALLENGE_MAX_WORDS = 600
_CHALLENGE = re.compile(
    r"verify (?:that )?you(?: a|')re (?:a )?human|are you (?:a )?(?:robot|human)|captcha"
    r"|access (?:is )?denied|checking (?:if the site connection is secure|your browser)"
    r"|enable (?:javascript|cookies) (?:and cookies )?to continue|just a moment\.\.\."
    r"|request (?:was |has been )?blocked|unusual traffic|attention required"
    r"|403 forbidden|401 unauthorized|ray id|bot (?:protection|detection)"
    r"|please sign in to continue",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")


def word_count(text: str, *, limit: int | None = None) -> int:
    """Words in ``text``; with ``limit``, counting stops there (``min(words, limit)``): the guards
    only ask whether a 40 KB policy has 40 or 600 words, not how many thousands."""
    if limit is None:
        return len(_WORD.findall(text))
    return sum(1 for _ in islice(_WORD.finditer(text), limit))


def check_text(text: str, *, source: str) -> None:
    """Raise :class:`ExtractError` when ``text`` cannot be the policy published at ``source``."""
    words = word_count(text, limit=_CHALLENGE_MAX_WORDS + 1)  # exact below both thresholds
    if words < MIN_WORDS:
        raise ExtractError(
            f"{source}: only {words} words extracted (a policy has at least {MIN_WORDS}); "
            "an error or placeholder page? Nothing recorded"
        )
    if words <= _CHALLENGE_MAX_WORDS:
        m = _CHALLENGE.search(text)
        if m:
            raise ExtractError(
                f"{source}: looks like a challenge or access-denied page ({m.group(0)!r} in a "
                f"{words}-word text); nothing recorded"
            )


def shrank(text: str, previous: str) -> tuple[int, int] | None:
    """(previous words, new words) when the new text is drastically shorter, else None."""
    before, after = word_count(previous), word_count(text)
    if before and after < before * SHRINK_RATIO:
        return before, after
    return None
