"""Document -> clauses: the units a reader cites and the diff aligns.

A clause is a heading, one sentence of a paragraph, one list item or one table row. Each carries
its readable text, the heading path above it and a normalised *key*: two clauses with the same key
differ only in presentation (CONTRACT.md, ``editorial``), so the diff can tell a reworded clause
from a re-typeset one.

The Markdown is read by a hand-written, line-based block scanner rather than a full CommonMark
parser: a 290 KB policy must be segmented in a few milliseconds, and policies use a small,
forgiving subset of Markdown (headings, paragraphs, lists, tables, quotes) where being lenient
matters more than being exact about corner cases of the spec.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Literal

from policywatch.models import Clause, ClauseKind, Document

__all__ = ["normalise", "readable", "segment", "split_sentences"]


def _words(text: str) -> frozenset[str]:
    """A word list written as prose (easier to read and extend than a list literal)."""
    return frozenset(text.split())


# --------------------------------------------------------------------------------------------
# readable text

# A backslash escape is swapped for a private code point (plane 15) while markup is removed, so
# that ``\*`` or ``\[`` can never be taken for emphasis or a link, then swapped back.
_PROTECT_BASE = 0xF0000
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_UNPROTECT = {_PROTECT_BASE + c: chr(c) for c in range(0x21, 0x7F)}
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]*|[^\s<>@]+@[^\s<>@]+\.[A-Za-z]{2,})>")
_INLINE_TAG = re.compile(
    r"</?(?:a|abbr|b|bdi|bdo|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|small|span|"
    r"strike|strong|sub|sup|time|tt|u|var)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_OTHER_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
# Possessive quantifiers (Python 3.11+): link texts and targets never need backtracking, and a
# long paragraph full of brackets must not make the scan quadratic.
_LINK_TEXT = r"\[((?:[^\[\]]++|\[[^\[\]]*+\])*+)\]"
_LINK_TARGET = (
    r"(?:\((?:<[^<>]*+>|[^()\s<]++|\([^()\s]*+\))*+"
    r"(?:\s++(?:\"[^\"]*+\"|'[^']*+'|\([^)]*+\)))?\s*+\)"
    r"|\[[^\[\]]*+\])"
)
_IMAGE = re.compile("!" + _LINK_TEXT + _LINK_TARGET)
_LINK = re.compile(_LINK_TEXT + _LINK_TARGET)
_RPAREN = chr(_PROTECT_BASE + ord(")"))
_LOOSE_LINK = re.compile(rf"\[([^\[\]]*+)\]\([^()\s]*?[){_RPAREN}]")
_DANGLING_TARGET = re.compile(rf"\]\([^()\s]*?[){_RPAREN}]")
_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_STARS = re.compile(r"\*+")
_UNDERSCORES = re.compile(r"_+")
_TILDES = re.compile(r"~~+")
_HEADING_MARKS = re.compile(r"^#{1,6}(?:\s+|$)")
_CLOSING_HASHES = re.compile(r"\s+#+\s*$")
_PERMALINK_TAIL = re.compile(r"\s*[#¶🔗]+\s*$")
_PERMALINK_HEAD = re.compile(r"^\s*[¶🔗]+\s*")
_LONE_LETTER_SHARP = re.compile(r"(?:^|\s)[A-Za-z]#$")  # C#, F#: a name, not a permalink
_WS = re.compile(r"\s+")


def _drop_flanking(m: re.Match[str]) -> str:
    """Emphasis marks touch text on one side; a lone ``*`` between spaces is a character.

    ``**`` is always markup: converters leave it dangling around line breaks.
    """
    if len(m.group()) > 1:
        return ""
    s = m.string
    before = s[m.start() - 1] if m.start() else " "
    after = s[m.end()] if m.end() < len(s) else " "
    return m.group() if before.isspace() and after.isspace() else ""


def _drop_flanking_outside_words(m: re.Match[str]) -> str:
    """Like :func:`_drop_flanking`, but ``snake_case`` underscores inside a word are text."""
    s = m.string
    before = s[m.start() - 1] if m.start() else " "
    after = s[m.end()] if m.end() < len(s) else " "
    if before.isspace() and after.isspace():
        return m.group()
    if before.isalnum() and after.isalnum():
        return m.group()
    return ""


def readable(markdown_inline: str) -> str:
    """The text a reader sees: markup, link targets and images gone, link text kept.

    Typographic characters (curly quotes, dashes) are kept as written: the display text is
    quoted back to readers, only the key is normalised.
    """
    s = markdown_inline
    protected = "\\" in s
    if protected:
        s = _ESCAPE.sub(lambda m: chr(_PROTECT_BASE + ord(m.group(1))), s)
    if "<" in s:
        if "<!--" in s:
            s = _COMMENT.sub(" ", s)
        s = _AUTOLINK.sub(r"\1", s)
        s = _INLINE_TAG.sub("", s)
        s = _OTHER_TAG.sub(" ", s)
    if "[" in s:
        if "![" in s:
            s = _IMAGE.sub("", s)
        s = _LINK.sub(r"\1", s)
        if "[" in s:  # link text holding a link-like bracket pair: one more pass
            s = _LINK.sub(r"\1", s)
        if s[:1] == "[" and "]" not in s:
            s = s[1:]  # the first half of a link split by a blank line: "[Manage ..."
    if "](" in s:
        # broken links seen in converted pages: the closing ")" escaped, or the second half of
        # a link split by a blank line ("Privacy Centre](url)")
        s = _LOOSE_LINK.sub(r"\1", s)
        s = _DANGLING_TARGET.sub("", s)
    if "`" in s:
        s = _CODE.sub(lambda m: m.group(2).strip() if m.group(2).strip() else m.group(2), s)
    if "*" in s:
        s = _STARS.sub(_drop_flanking, s)
    if "_" in s:
        s = _UNDERSCORES.sub(_drop_flanking_outside_words, s)
    if "~~" in s:
        s = _TILDES.sub("", s)
    if "&" in s:
        s = html.unescape(s)
    s = " ".join(s.split())
    if s[:1] == "#":
        s = _HEADING_MARKS.sub("", s)
    if s[-1:] in ("#", "¶", "🔗") and not _LONE_LETTER_SHARP.search(s):
        s = _CLOSING_HASHES.sub("", s)
        s = _PERMALINK_TAIL.sub("", s)
    if s[:1] in ("¶", "🔗"):
        s = _PERMALINK_HEAD.sub("", s)
    if protected:
        s = s.translate(_UNPROTECT)
    return s


# --------------------------------------------------------------------------------------------
# matching key

_KEY_MAP = {
    **dict.fromkeys("‘’‚‛′`´", "'"),
    **dict.fromkeys("“”„‟″«»〝〞", '"'),
    **dict.fromkeys("‐‑‒–—―−⁃﹘﹣", "-"),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e", ""),
    "|": " ",
}
# a character class + dict lookup is ~5x faster than str.translate on non-ASCII text
_KEY_CHARS = re.compile("[" + re.escape("".join(_KEY_MAP)) + "]")


def _key_char(m: re.Match[str]) -> str:
    return _KEY_MAP[m.group()]


_NUMBERING = re.compile(
    r"^(?:"
    r"\(?(?:\d{1,3}(?:\.\d{1,3})*|[a-z]|x{0,3}(?:ix|iv|v?i{0,3}))[.)](?:\s+|$)"  # 1. 2.3. a) (iv)
    r"|\d{1,3}(?:\.\d{1,3})+\s+"  # 4.2 Heading
    r"|[•·▪◦‣∙●○■□►▸*+-]\s+"  # bullets typed as text
    r")"
)
_PUNCT_SPACE = re.compile(r" [.,;:!?)\]}]|[(\[{] ")


def _drop_space(m: re.Match[str]) -> str:
    return m.group().replace(" ", "")


_DASH_SPACES = re.compile(r"\s*-+\s*")  # "a -- b", "a - b", "a-b"
#: a footnote reference or a note's own number ("[60]", "[ 7 ]"), with the space before it
_FOOTNOTE = re.compile(r"\s?\[\s?\d{1,4}\s?\]")
_TRIM = " .,;:-*•·#¶\t"


def normalise(text: str) -> str:
    """The matching key of a readable text.

    Equal keys mean "same words": white space (NBSP, zero-width characters), typographic
    quotes and dashes, compatibility forms (NFKC), letter case, list numbering/bullets typed as
    text, footnote numbers (``[60]``), and trailing punctuation noise are all presentation. Any
    other character difference -- in particular any word -- keeps the keys apart.
    """
    s = text
    if not s.isascii():
        s = _KEY_CHARS.sub(_key_char, unicodedata.normalize("NFKC", s))
    elif "|" in s or "`" in s:
        s = _KEY_CHARS.sub(_key_char, s)
    return _key_of_collapsed(" ".join(s.split()).casefold())


def _key(text: str) -> str:
    """:func:`normalise` of a text the scanner made: white space already collapsed.

    Most clauses are plain ASCII without ``|`` or a backquote, which ``normalise`` leaves as
    they are before collapsing white space, so for those the (idempotent) collapse is skipped.
    """
    if text.isascii() and "|" not in text and "`" not in text:
        return _key_of_collapsed(text.casefold())
    return normalise(text)


def _key_of_collapsed(s: str) -> str:
    if "[" in s:  # footnote markers: "[60]" renumbered to "[61]" when a note is added above
        s = _FOOTNOTE.sub("", s)
    for _ in range(2):  # "1. (a) text"
        numbering = _NUMBERING.match(s)
        if numbering is None:
            break
        s = s[numbering.end() :]
    if "-" in s and (" -" in s or "- " in s or "--" in s):
        s = _DASH_SPACES.sub("-", s)
    if _PUNCT_SPACE.search(s):
        s = _PUNCT_SPACE.sub(_drop_space, s)
    return s.strip(_TRIM)


# --------------------------------------------------------------------------------------------
# sentences

# A candidate end: terminal punctuation, closing quotes/brackets, then white space.
#: the end of a sentence: its punctuation, closing quotes or brackets, then footnote references
#: as readable text ("[60]") or as the Markdown link the extractor writes ("[\\[60\\]](#fn60)")
_END = re.compile(r"([.!?…]+)([\"'’”»)\]]*(?:\[\d{1,4}\]|\[\\\[\d{1,4}\\\]\]\([^)\s]*\))*)\s+")
_OPENERS = "\"'‘“«([{"

#: never end a sentence: the next word belongs to them
_NEVER_END = _words(
    """e.g eg i.e ie cf viz vs v mr mrs ms mx dr prof rev hon st mt ft approx ca c incl excl esp
    resp dept est govt jan feb mar apr jun jul aug sep sept oct nov dec"""
)
#: followed by a number ("No. 5", "Art. 6(1)(a)", "Sec. 4.2"): part of a reference
_BEFORE_NUMBER = _words(
    """no nos nr art arts sec secs s ss para paras p pp ch chap vol fig cl reg regs sch ex tel
    ph ext op pt"""
)
#: may end a sentence ("... Example Inc. We ..."), usually do not ("Example Inc. and ...")
_MAYBE_END = _words(
    """etc inc ltd co corp llc llp lp plc gmbh ag sa sas sarl bv nv pty jr sr bros al"""
)
#: words that start sentences; after a "maybe" abbreviation they decide for a new sentence
_STARTERS = _words(
    """a about accordingly additionally after all also although an and any as at because before
    but by can click contact do does each even except finally first for from further furthermore
    he here how however i if in it its learn likewise many may more moreover most my no none
    not note now of on once one only or other otherwise our please read regardless second see
    she similarly since so some such that the their then there therefore these they third this
    those thus to under unless upon us visit was we what when where whether which while who why
    will with without you your"""
)
_DOTTED = re.compile(r"^(?:[a-z]\.)+[a-z]$")
_ROMAN = re.compile(r"^[ivxlcdm]+$", re.IGNORECASE)
_SMALL_NUMBER = re.compile(r"^\(?\d{1,2}\)?$")


def _ends_sentence(text: str, start: int, match: re.Match[str], nxt: int) -> bool:
    following = text[nxt : nxt + 40]
    first = following.lstrip(_OPENERS)[:1]
    if not first or first.islower():
        return False
    term = match.group(1)
    if "?" in term or "!" in term:
        return True
    if "…" in term or ".." in term:
        return first.isupper() or first.isdigit()
    # a single full stop: look at the word before it
    space = text.rfind(" ", start, match.start())
    word = text[space + 1 : match.start()].lstrip(_OPENERS)
    low = word.lower()
    if low in _NEVER_END:
        return False
    if (len(word) == 1 and word.isalpha()) or low in _MAYBE_END or _DOTTED.match(low):
        # an initial ("J. Smith"), a company suffix ("Example Inc. and ..."), "U.S.": a new
        # sentence only when a typical opener follows ("... on X. Learn more", "Inc. We ...")
        nxt_word = following.lstrip(_OPENERS).split(" ", 1)[0].rstrip(",.;:")
        return nxt_word.lower() in _STARTERS
    if low in _BEFORE_NUMBER:
        return not (first.isdigit() or first == "(" or _ROMAN.match(following.split(" ", 1)[0]))
    if _SMALL_NUMBER.match(word):
        # "1. About", "... the following: 1. name 2. e-mail": a label, not an end
        before = text[start:space].rstrip() if space > start else ""
        if not before or before[-1] in ":;":
            return False
    return True


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences, the way a reader of legal text would.

    Abbreviations (``e.g.``, ``Inc.``, ``U.S.``, ``No. 5``, ``Art. 6(1)(a)``), initials, decimals,
    section numbers, URLs and e-mail addresses do not end a sentence, because a full stop only
    counts when white space and a non-lowercase character follow it. ``Inc.``-like words end a
    sentence only when a typical sentence opener follows. A colon never splits: "the following:"
    belongs to the list after it.
    """
    return _split_collapsed(" ".join(text.split()))


def _split_collapsed(text: str) -> list[str]:
    """:func:`split_sentences` of a text whose white space is already collapsed."""
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        nxt = match.end()
        if nxt >= len(text):
            break
        if _ends_sentence(text, start, match, nxt):
            sentences.append(text[start : match.end(2)])
            start = nxt
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# --------------------------------------------------------------------------------------------
# block scanner

_ATX = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^(?:=+|-+)[ \t]*$")
_RULE = re.compile(r"^(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_MARKER = re.compile(r"^(?:[-*+]|(\d{1,9})[.)])(?:([ \t]+)|$)")
_MARKER_START = frozenset("-*+0123456789")  # what a _MARKER match starts with
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_DELIMITER_ROW = re.compile(r"^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_LINK_DEFINITION = re.compile(r"^\[(?!\^)[^\]]+\]:[ \t]*\S")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_HAS_WORD = re.compile(r"\w")
_BLOCK_START_CHARS = frozenset("#*-+_=|:`~<[0123456789")


def _collapse(markdown: str) -> str:
    return " ".join(markdown.split())


def _quote_depth(line: str) -> tuple[int, str]:
    depth = 0
    while True:
        stripped = line.lstrip(" ")
        if not stripped.startswith(">") or len(line) - len(stripped) > 3:
            return depth, line
        depth += 1
        line = stripped[1:]
        if line.startswith(" "):
            line = line[1:]


#: what one block reads as: (kind, text, source, key) of each clause it holds
_Parts = tuple[tuple[ClauseKind, str, str, str], ...]
_BlockKind = Literal["paragraph", "item", "heading", "row"]
#: blocks already read, by kind and Markdown. Policies repeat blocks ("Learn more."), and the two
#: sides of a diff share most of theirs: each is read (markup, sentences, keys) once per process.
_READ: dict[tuple[_BlockKind, str], _Parts] = {}
#: blocks remembered before the memo starts afresh (bounds memory in a long-lived process)
_READ_LIMIT = 50_000


def _has_words(text: str) -> bool:
    return bool(text) and (text[0].isalnum() or _HAS_WORD.search(text) is not None)


def _read(kind: _BlockKind, markdown: str) -> _Parts:
    """The clauses of one block (memoised, see ``_READ``)."""
    parts = _READ.get((kind, markdown))
    if parts is None:
        if len(_READ) >= _READ_LIMIT:
            _READ.clear()
        parts = _READ[kind, markdown] = _read_block(kind, markdown)
    return parts


def _read_block(kind: _BlockKind, markdown: str) -> _Parts:
    pieces: list[tuple[ClauseKind, str, str]]
    if kind == "row":
        cells = _CELL_SPLIT.split(markdown.strip())
        if cells and not cells[0].strip():
            cells = cells[1:]
        if cells and not cells[-1].strip():
            cells = cells[:-1]
        texts = [readable(c) for c in cells]
        pieces = [("row", " | ".join(t for t in texts if t), _collapse(markdown))]
    elif kind == "paragraph":
        text = readable(markdown)
        source = _collapse(markdown)
        sentences = _split_collapsed(text)  # readable() collapses white space
        if len(sentences) == 1:
            pieces = [("sentence", sentences[0], source)]
        else:
            # Sentences are split on the readable text (markup would confuse the splitter); the
            # Markdown of each is recovered by splitting the source the same way. When the two
            # disagree (rare: markup around a sentence boundary) the readable text stands in.
            sources = sentences if source == text else _split_collapsed(source)
            if len(sources) != len(sentences):
                sources = sentences
            pieces = [("sentence", t, src) for t, src in zip(sentences, sources, strict=True)]
    else:
        pieces = [(kind, readable(markdown), _collapse(markdown))]
    return tuple((k, text, src, _key(text)) for k, text, src in pieces if _has_words(text))


class _Scanner:
    def __init__(self) -> None:
        self.clauses: list[Clause] = []
        self.headings: list[tuple[int, str]] = []
        self.section: tuple[str, ...] = ()
        self.para: list[str] = []
        self.para_kind: ClauseKind = "sentence"
        self.para_depth = 0  # list depth of the open paragraph (0 = not in a list)
        self.items: list[int] = []  # content indent of each open list item
        self.quote = 0

    # ---- output

    def add(self, parts: _Parts) -> None:
        for kind, text, source, key in parts:
            self.clauses.append(Clause(len(self.clauses), kind, text, self.section, key, source))

    def flush(self) -> None:
        if not self.para:
            return
        lines = self.para
        self.para = []
        if len(lines) == 1:  # most blocks
            joined = lines[0][:-1] if lines[0].endswith("\\") else lines[0]
        else:
            joined = " ".join(line[:-1] if line.endswith("\\") else line for line in lines)
        self.add(_read("item" if self.para_kind == "item" else "paragraph", joined))

    def heading(self, level: int, inline: str) -> None:
        parts = _read("heading", inline)
        if not parts:
            return
        text = parts[0][1]
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.section = tuple(t for _, t in self.headings)
        self.add(parts)
        self.headings.append((level, text))
        self.section = (*self.section, text)

    def row(self, content: str) -> None:
        self.add(_read("row", content))

    # ---- the scan

    def run(self, text: str) -> list[Clause]:
        lines = text.split("\n")
        n = len(lines)
        i = 0
        blank = True  # the previous line was blank (or we are at the start)
        in_table = False
        while i < n:
            line = lines[i]
            i += 1
            if "\t" in line:
                line = line.expandtabs(4)
            content = line.lstrip(" ")
            if content[:1] == ">":
                depth, line = _quote_depth(line)
                content = line.lstrip(" ")
            else:
                depth = 0
            if depth != self.quote:
                self.flush()
                self.items.clear()
                self.quote = depth
                in_table = False
                blank = True
            if not content:
                if self.para_kind != "item":
                    self.flush()
                blank = True
                in_table = False
                continue
            indent = len(line) - len(content)
            was_blank = blank
            blank = False
            lead = content[0]

            if in_table:
                if "|" in content:
                    if not _DELIMITER_ROW.match(content):
                        self.row(content)
                    continue
                in_table = False

            if lead not in _BLOCK_START_CHARS:
                # the common case: paragraph text
                self.text(content, indent, was_blank)
                continue

            if (
                lead in "|-:"
                and len(self.para) == 1
                and not was_blank
                and "|" in content
                and "|" in self.para[0]
                and _DELIMITER_ROW.match(content)
            ):
                # a table whose header row has no leading pipe: "Data | Purpose" then "--- | ---"
                header = self.para[0]
                self.para = []
                self.row(header)
                in_table = True
                continue

            if lead in "`~":
                fence = _FENCE.match(content)
                if fence:
                    self.flush()
                    self.pop_items(indent)
                    i = self.code(lines, i, fence.group(1), depth)
                    blank = True
                    continue
            elif lead == "#":
                atx = _ATX.match(content)
                if atx and indent < 4 + (self.items[-1] if self.items else 0):
                    self.flush()
                    self.pop_items(indent)
                    self.heading(len(atx.group(1)), atx.group(2) or "")
                    continue
            elif lead == "<":
                if content.startswith("<!--"):
                    self.flush()
                    i = self.comment(lines, i - 1)
                    blank = True
                    continue
            elif lead == "[":
                if was_blank and _LINK_DEFINITION.match(content):
                    self.flush()  # a list item left open by the blank line ends here
                    blank = True
                    continue
            elif lead == "|":
                self.flush()
                self.pop_items(indent)
                if not _DELIMITER_ROW.match(content):
                    self.row(content)
                in_table = True
                continue

            if (
                lead in "=-"
                and self.para
                and not was_blank
                and self.para_kind == "sentence"
                and _SETEXT.match(content)
            ):
                inline = " ".join(self.para)
                self.para = []
                self.heading(1 if lead == "=" else 2, inline)
                continue
            if lead in "*-_" and _RULE.match(content):
                self.flush()
                self.pop_items(indent)
                continue
            if lead in "*-+0123456789" and self.marker(content, indent, was_blank):
                continue
            self.text(content, indent, was_blank)
        self.flush()
        return self.clauses

    def pop_items(self, indent: int) -> None:
        items = self.items
        while items and indent < items[-1]:
            items.pop()

    def text(self, content: str, indent: int, was_blank: bool) -> None:
        if self.para and not was_blank:
            self.para.append(content)  # a continuation line (lazy or indented)
            return
        self.pop_items(indent)
        depth = len(self.items)
        if self.para and self.para_kind == "item" and depth == self.para_depth and depth:
            self.para.append(content)  # another paragraph of the same list item
            return
        self.flush()
        self.para = [content]
        self.para_kind = "item" if depth else "sentence"
        self.para_depth = depth

    def marker(self, content: str, indent: int, was_blank: bool) -> bool:
        match = _MARKER.match(content)
        if not match:
            return False
        rest = content[match.end() :]
        number = match.group(1)
        # CommonMark: only "1." or a non-empty bullet may interrupt a paragraph, so a wrapped
        # line starting "2023. " or "- " in running text stays text
        if (
            self.para
            and not was_blank
            and self.para_kind == "sentence"
            and ((number is not None and number != "1") or not rest.strip())
        ):
            return False
        self.flush()
        self.pop_items(indent)
        spaces = len(match.group(2) or " ")
        if spaces > 4:
            spaces = 1
        width = indent + match.end() - len(match.group(2) or "") + spaces
        self.items.append(width)
        # "- - nested" or "1. - nested": a marker right after a marker opens a nested list
        while rest[:1] in _MARKER_START:
            inner = _MARKER.match(rest)
            if not inner or _RULE.match(rest):
                break
            inner_spaces = len(inner.group(2) or " ")
            width += inner.end() - len(inner.group(2) or "") + min(inner_spaces, 4)
            self.items.append(width)
            rest = rest[inner.end() :]
        self.para = [rest] if rest.strip() else []
        self.para_kind = "item"
        self.para_depth = len(self.items)
        if not self.para:
            self.para = [""]
        return True

    def code(self, lines: list[str], i: int, fence: str, depth: int) -> int:
        body: list[str] = []
        n = len(lines)
        while i < n:
            line = lines[i]
            i += 1
            if depth:
                _, line = _quote_depth(line)
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(line)
        code = _WS.sub(" ", " ".join(body)).strip()
        if code and _has_words(code):
            self.add((("sentence", code, code, _key(code)),))
        return i

    @staticmethod
    def comment(lines: list[str], i: int) -> int:
        n = len(lines)
        while i < n:
            if "-->" in lines[i]:
                return i + 1
            i += 1
        return n


def segment(doc: Document | str) -> tuple[Clause, ...]:
    """Split a Markdown document into clauses (see the module docstring).

    ``index`` is the clause's position in the returned tuple; ``section`` is the path of heading
    texts above it (a heading's own section is its parents).
    """
    text = doc.text if isinstance(doc, Document) else doc
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return tuple(_Scanner().run(text))
