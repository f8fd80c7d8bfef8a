"""Source bytes -> Markdown :class:`~policywatch.models.Document`.

Everything that can go wrong with a source's bytes is decided here, once, so that the clause
splitter and the diff only ever see clean ``\\n``-separated Markdown:

* which charset the bytes are in (BOM, then the transport's declaration, then the document's own
  ``<meta charset>``, then strict UTF-8 -- never a silent guess that would record mojibake as a
  policy change);
* whether the bytes are a text document at all (a PDF or image served as ``text/html`` must not
  become a revision full of control characters);
* which part of an HTML page is the policy, and how its structure maps onto Markdown.

selectolax and pypdf are imported lazily: ``policywatch diff a.md b.md`` must not pay for an HTML
parser or a PDF library it does not use (the whole process has a ~100 ms budget).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policywatch.errors import ExtractError, InputError
from policywatch.models import Document, Snapshot

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = [
    "EXTRACTOR_VERSION",
    "MAX_BYTES",
    "TRACKING_PARAMETERS",
    "TRACKING_PREFIXES",
    "clean_href",
    "decode",
    "extract",
    "html_to_markdown",
    "media_type_for",
    "read_document",
    "split_front_matter",
]

#: Largest source accepted by default. Real policies are well under 1 MB; anything bigger is a
#: wrong file (a log, a video) and reading it would only waste memory before failing later.
#: bump when a change of this module can change the text extracted from the same bytes: the
#: tracker then re-extracts stored snapshots and records the difference as a ``technical``
#: revision, never announced, so an extractor upgrade never reads as a policy change
EXTRACTOR_VERSION = "3"
MAX_BYTES = 10 * 1024 * 1024

#: Query parameters that identify a click or a campaign, not a page. They change on every fetch
#: or per visitor, so keeping them would record noise revisions (see FIELD-NOTES: 55% of recorded
#: changes in a real archive touch only link targets). Compared case-insensitively.
TRACKING_PARAMETERS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ttclid",
        "twclid",
        "igshid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "_ga",
        "_gl",
        "_openstat",
        "vero_id",
        "vero_conv",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "wickedid",
        "srsltid",
        "ncid",
        "s_cid",
        "trk",
        "trkcampaign",
        "sc_campaign",
        "sc_channel",
        "sc_content",
        "sc_medium",
        "sc_outcome",
        "sc_geo",
        "sc_country",
    }
)
#: Parameter name prefixes with the same meaning (``utm_source``, ``pk_campaign`` ...).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "matomo_", "hsa_")

_MEDIA_BY_SUFFIX = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "text/html",
    ".pdf": "application/pdf",
}


def _words(text: str) -> frozenset[str]:
    """A word list written as prose (easier to read and extend than a list literal)."""
    return frozenset(text.split())


# --------------------------------------------------------------------------------------------
# decoding


_BOMS: tuple[tuple[bytes, str, str], ...] = (
    # UTF-32 first: the UTF-32-LE BOM begins with the UTF-16-LE one.
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)

_WEAK_MAGIC = frozenset({b"MZ", b"BZh"})
# Bytes that plain text contains: tab, LF, VT, FF, CR, ESC (ANSI colour in logs) and 0x20-0xFF.
_TEXT_BYTES = bytes([9, 10, 11, 12, 13, 27, *range(0x20, 0x100)])
_SNIFF = 8192

_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)
_FIX = (
    "convert the file to UTF-8 or declare its charset "
    "(a <meta charset> in HTML, or the server's Content-Type header)"
)


def _binary_kind(content: bytes, *, wide: bool) -> str | None:
    """Why ``content`` is not text, or None. ``wide`` allows NUL bytes (UTF-16/32)."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            # "MZ" and "BZh" are also plausible first letters of a text; demand a NUL nearby.
            if magic in _WEAK_MAGIC and b"\x00" not in content[:512]:
                continue
            return kind
    if wide:
        return None
    sample = content[:_SNIFF]
    if b"\x00" in sample:
        return "it contains NUL bytes"
    if sample:
        odd = len(sample.translate(None, _TEXT_BYTES))
        if odd * 20 > len(sample):  # more than 5% control characters
            return "it is mostly control characters"
    return None


def _codec(label: str) -> str | None:
    """The Python codec for a charset label, following browsers where they differ.

    Browsers decode ``iso-8859-1`` and ``us-ascii`` as windows-1252 (WHATWG Encoding), and pages
    that declare latin-1 routinely contain windows-1252 curly quotes; decoding them as C1 control
    characters would corrupt every quotation mark.
    """
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    if name in {"iso8859-1", "ascii", "latin-1"}:
        return "cp1252"
    return name


def _decode_with(content: bytes, codec: str) -> str:
    if codec == "cp1252":
        try:
            return content.decode("cp1252")
        except UnicodeDecodeError:
            # the five bytes windows-1252 leaves undefined map to C1 controls, as in browsers
            return content.decode("latin-1")
    return content.decode(codec)


def _where(exc: UnicodeDecodeError) -> str:
    return f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"


def decode(content: bytes, *, declared: str | None = None, name: str = "<input>") -> str:
    """Decode a source's bytes without ever guessing.

    Order: a byte order mark, the ``declared`` charset (the transport's Content-Type), a
    ``<meta charset>``/``http-equiv`` (or XML) declaration in the first 4 KB, then strict UTF-8.
    A wrong guess would be archived as a revision in which every accented letter changed, so
    anything that does not decode cleanly is an :class:`InputError` that names the charset that
    failed and how to fix it. Binary data (NUL bytes, control characters, a PDF or image magic
    number) is refused first, before any decoding is attempted.
    """
    for bom, bom_codec, label in _BOMS:
        if content.startswith(bom):
            kind = _binary_kind(content[len(bom) :], wide=bom_codec != "utf-8")
            if kind:
                raise InputError(f"binary data ({kind}), not a text document", path=name)
            try:
                return content[len(bom) :].decode(bom_codec)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"starts with a {label} byte order mark but is not valid {label} "
                    f"({_where(exc)}); {_FIX}",
                    path=name,
                ) from exc

    wide_declared = False
    codec: str | None = None
    if declared:
        codec = _codec(declared)
        if codec is None:
            raise InputError(
                f"unknown charset {declared!r} declared by the server; "
                "declare a standard one such as utf-8 or windows-1252",
                path=name,
            )
        wide_declared = codec.startswith(("utf-16", "utf-32"))

    kind = _binary_kind(content, wide=wide_declared)
    if kind:
        raise InputError(f"binary data ({kind}), not a text document", path=name)

    if codec is not None:
        try:
            return _decode_with(content, codec)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not valid {declared} as the server declares ({_where(exc)}); "
                "fix the declared charset or the file",
                path=name,
            ) from exc

    head = content[:4096]
    unknown_meta: str | None = None
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if match:
        label = match.group(1).decode("ascii")
        codec = _codec(label)
        if codec is not None and codec.startswith(("utf-16", "utf-32")):
            codec = "utf-8"  # WHATWG: a byte-level declaration of UTF-16 cannot be true
        if codec is None:
            unknown_meta = label
        else:
            try:
                return _decode_with(content, codec)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"not valid {label} as its <meta charset> declares ({_where(exc)}); "
                    "fix the declaration or convert the file",
                    path=name,
                ) from exc

    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        if unknown_meta:
            detail = f"it declares an unknown charset {unknown_meta!r} and is not valid UTF-8"
        else:
            detail = "no charset is declared and it is not valid UTF-8"
        raise InputError(f"{detail} ({_where(exc)}); {_FIX}", path=name) from exc


def _lf(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# --------------------------------------------------------------------------------------------
# front matter

_FM_OPEN = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n")
_FM_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)


def _flatten(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        import json  # lazy: json costs an import most documents never need

        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def split_front_matter(text: str, name: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """Split YAML front matter (between ``---`` lines at the very start) from the body.

    Values are flattened to strings (dates in ISO form, lists joined with ", ") because
    :class:`Document` metadata is a hashable tuple of string pairs. A leading ``---`` without a
    closing line is a Markdown rule, not front matter. Malformed YAML is refused with the line
    number *in the file*, not in the YAML snippet, so the user can go straight to it.
    """
    opening = _FM_OPEN.match(text)
    if not opening:
        return (), text
    closing = _FM_CLOSE.search(text, opening.end())
    if not closing:
        return (), text
    source = text[opening.end() : closing.start()]
    body = text[closing.end() :]
    if body.startswith("\r\n"):
        body = body[2:]
    elif body.startswith("\n"):
        body = body[1:]

    import yaml  # lazy: only documents with front matter pay for PyYAML

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(source, Loader=loader)  # a safe loader (the C one when built)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" at line {mark.line + 2}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"malformed front matter{line}: {problem}", path=name) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"malformed front matter: {exc}", path=name) from exc
    if data is None:
        return (), body
    if not isinstance(data, dict):
        raise InputError(
            f"front matter (line 2) must be a mapping of keys to values, not {type(data).__name__}",
            path=name,
        )
    return tuple((str(k), _flatten(v)) for k, v in data.items()), body


# --------------------------------------------------------------------------------------------
# HTML -> Markdown

_BLOCK_TAGS = _words(
    """address article aside blockquote body caption center dd details dialog dir div dl dt
    fieldset figcaption figure footer form header hgroup hr html legend li main menu nav ol p pre
    section summary table tbody td tfoot th thead tr ul h1 h2 h3 h4 h5 h6"""
)
_LIST_TAGS = frozenset({"ul", "ol", "menu", "dir"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Removed before conversion: never policy text, whatever the page's CSS says.
_PRUNE = (
    "script, style, noscript, template, svg, math, iframe, object, embed, canvas, head, "
    "input, select, textarea, datalist, dialog:not([open]), "
    '[hidden]:not([hidden="until-found" i]), [aria-hidden="true" i]'
)
# What a control opens that is not a section of the page: menus, pickers, dialogs, tooltips.
_POPUP_ROLES = _words(
    "alertdialog combobox dialog grid listbox menu menubar menuitem navigation tooltip tree"
)
_PRUNE_STYLED = '[style*="none" i], [style*="hidden" i]'

_STYLE_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_HEADING_TAGS = "h1, h2, h3, h4, h5, h6"
_SKIP_INLINE = frozenset({"img", "picture", "video", "audio", "source", "track", "map", "wbr"})
_WS_HTML = re.compile(r"[ \t\n\r\f]+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<])")
#: what makes _escape_text change a text: white space other than single spaces, or a special
_ESCAPE_NEEDED = re.compile(r"[\t\n\r\f]| {2}|[\\`*_\[\]<]")
_SPACES = re.compile(r" {2,}")
_LINE_START = re.compile(r"^(?:#|>|[-+](?=[ \t]|$)|\||~~~|=+$|-+$|(\d{1,9})([.)])(?=[ \t]|$))")
_NEEDS_PCT = re.compile(r"[\s()<>]")
_PCT = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"}
_SCHEME_JUNK = re.compile(r"[\x00-\x20]+")


def _escape_text(text: str) -> str:
    # most text nodes need neither: one search instead of a substitution per node (a 40 KB
    # page has hundreds of nodes, and this ran 350,000 times in a first pass over 1,000 pages)
    if not _ESCAPE_NEEDED.search(text):
        return text
    text = _WS_HTML.sub(" ", text)
    if _MD_SPECIAL.search(text):
        text = _MD_SPECIAL.sub(r"\\\1", text)
    return text


def _escape_line_start(line: str) -> str:
    m = _LINE_START.match(line)
    if not m:
        return line
    if m.group(1):  # "1. " would start an ordered list
        return f"{m.group(1)}\\{m.group(2)}{line[m.end() :]}"
    return "\\" + line


def _is_tracking(param: str) -> bool:
    key = param.split("=", 1)[0]
    if "%" in key or "+" in key:
        from urllib.parse import unquote_plus

        key = unquote_plus(key)
    key = key.lower()
    return key in TRACKING_PARAMETERS or key.startswith(TRACKING_PREFIXES)


def clean_href(href: str) -> str | None:
    """The link target worth keeping, or None for a link that must stay inert.

    ``javascript:``/``vbscript:``/``data:`` targets are dropped (browsers ignore white space and
    control characters inside the scheme, so ``java\\tscript:`` is dropped too). Tracking query
    parameters are removed without re-encoding the remaining ones, so a target that did not
    change does not look changed.
    """
    href = href.strip()
    if not href:
        return None
    scheme = _SCHEME_JUNK.sub("", href[:40]).lower()
    if scheme.startswith(("javascript:", "vbscript:", "data:")):
        return None
    qmark = href.find("?")
    if qmark >= 0:
        hashmark = href.find("#", qmark)
        query = href[qmark + 1 : hashmark if hashmark >= 0 else len(href)]
        fragment = href[hashmark:] if hashmark >= 0 else ""
        params = [p for p in query.split("&") if p]
        kept = [p for p in params if not _is_tracking(p)]
        if len(kept) != len(params):
            href = href[:qmark] + ("?" + "&".join(kept) if kept else "") + fragment
    if _NEEDS_PCT.search(href):
        href = _NEEDS_PCT.sub(lambda m: _PCT.get(m.group(), "%20"), href)
    return href


def _one_line(text: str) -> str:
    """A heading or table cell: blocks inside it were run together with spaces; keep one."""
    if "  " in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


def _wrap(inner: str, mark: str) -> str:
    core = inner.strip()
    if not core:
        return inner
    if core.startswith(mark) and core.endswith(mark) and len(core) > 2 * len(mark):
        return inner  # <b><strong>x</strong></b>: one pair is enough
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{mark}{core}{mark}{trail}"


def _fence(code: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{code.strip(chr(10))}\n{ticks}"


def _int_attr(node: LexborNode, key: str) -> int | None:
    value = node.attributes.get(key)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


class _WrapsBlocks(Exception):
    """Control flow inside :class:`_Markdown`: the inline element being converted holds a block."""


class _Markdown:
    """One pass over a pruned DOM, producing Markdown blocks.

    Walks ``child``/``next`` links rather than serialising and re-parsing: a 300 KB page has tens
    of thousands of nodes and every Python object created per node costs.
    """

    def __init__(self, headings: dict[int, int] | None = None) -> None:
        #: ``mem_id`` -> level of elements that declare themselves headings with ARIA
        #: (``<div role="heading" aria-level="3">``, common in component libraries): they give
        #: clauses their section path just like ``<h3>``
        self.headings = headings or {}
        #: set while :meth:`phrase` converts an inline element: a block met inside it then
        #: aborts the conversion (:class:`_WrapsBlocks`) instead of being flattened
        self.probing = False
        #: ``mem_id`` of inline elements an aborted conversion passed through: they wrap the
        #: block too, so walking into them later must not probe them again (``<span>`` nested
        #: N deep around a long run of text would cost N passes over it)
        self.wrappers: set[int] = set()

    def blocks(self, node: LexborNode, out: list[str]) -> None:
        run: list[str] = []
        self.walk(node, run, out)
        if run:
            self.flush(run, out)

    def walk(self, node: LexborNode, run: list[str], out: list[str]) -> None:
        """Add ``node``'s children to ``out``: inline content gathers in ``run`` (one paragraph).

        An inline element that wraps blocks -- ``<span>`` around whole sections, a ``<button>``
        holding an accordion's ``<h3>``, a card ``<a>`` around a heading and a paragraph -- is
        laid out by browsers as the blocks it holds. Converting it as inline text would run a
        whole document into one line (and one clause), so it is walked like a container: its
        inline content joins the paragraph around it, its blocks stay blocks. Finding out costs
        nothing up front: the element is converted inline, and the conversion is abandoned at
        the first block it meets.
        """
        child = node.child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                run.append(_escape_text(child.text_content or ""))
            elif tag in _BLOCK_TAGS:
                if run:
                    self.flush(run, out)
                    run.clear()
                self.block(child, tag, out)
            elif tag[:1] not in "-_!" and tag not in _SKIP_INLINE:
                self.phrase(child, tag, run, out)
            child = child.next

    def phrase(self, node: LexborNode, tag: str, run: list[str], out: list[str]) -> None:
        """An inline element in block context: joins ``run``, or is walked if it wraps blocks."""
        if self.headings and node.mem_id in self.headings:  # <span role="heading">
            if run:
                self.flush(run, out)
                run.clear()
            self.heading(node, self.headings[node.mem_id], out)
            return
        if self.wrappers and node.mem_id in self.wrappers:
            self.walk(node, run, out)
            return
        self.probing = True
        try:
            piece: str | None = self.inline(node, tag)
        except _WrapsBlocks:
            piece = None
        finally:
            self.probing = False
        if piece is None:
            self.walk(node, run, out)
        else:
            run.append(piece)

    @staticmethod
    def flush(inline: list[str], out: list[str]) -> None:
        text = "".join(inline)
        if "  " in text:
            text = _SPACES.sub(" ", text)
        if "\n" in text:
            # one <br> is a hard line break (CommonMark's backslash form survives editors that
            # trim spaces); two or more in a row leave a blank line, which is how pages without
            # <p> separate paragraphs: a paragraph break, so that a title line is not read as
            # the start of the sentence below it
            lines: list[str] = []
            for line in text.split("\n"):
                line = line.strip()
                if line:
                    lines.append(_escape_line_start(line))
                elif lines:
                    out.append("\\\n".join(lines))
                    lines = []
            if lines:
                out.append("\\\n".join(lines))
            return
        text = _escape_line_start(text.strip())
        if text:
            out.append(text)

    def heading(self, node: LexborNode, level: int, out: list[str]) -> None:
        text = _one_line(self.flat(node))
        if text:
            out.append(f"{'#' * level} {text}")

    def block(self, node: LexborNode, tag: str, out: list[str]) -> None:
        level = _HEADINGS.get(tag)
        if level is None and self.headings:
            level = self.headings.get(node.mem_id)
        if level is not None:
            self.heading(node, level, out)
        elif tag == "ul" or tag == "ol" or tag == "menu" or tag == "dir":
            self.listing(node, tag == "ol", out)
        elif tag == "table":
            self.table(node, out)
        elif tag == "blockquote":
            sub: list[str] = []
            self.blocks(node, sub)
            for block in sub:
                out.append("\n".join(f"> {line}" if line else ">" for line in block.split("\n")))
        elif tag == "pre":
            code = node.text(deep=True)
            if code.strip():
                out.append(_fence(code))
        elif tag == "hr":
            out.append("---")
        else:
            self.blocks(node, out)

    def inline(self, node: LexborNode, tag: str) -> str:
        if tag == "a":
            inner = self.flat(node)
            if not inner.strip():
                return inner
            href = node.attributes.get("href")
            target = clean_href(href) if href else None
            if not target or target == "#":
                return inner
            core = inner.strip().replace("\n", " ")
            lead = " " if inner[:1].isspace() else ""
            trail = " " if inner[-1:].isspace() else ""
            return f"{lead}[{core}]({target}){trail}"
        if tag == "strong" or tag == "b":
            return _wrap(self.flat(node, inline=True), "**")
        if tag == "em" or tag == "i" or tag == "cite" or tag == "dfn":
            return _wrap(self.flat(node, inline=True), "*")
        if tag == "code" or tag == "kbd" or tag == "samp" or tag == "tt":
            code = _WS_HTML.sub(" ", node.text(deep=True))
            if not code.strip():
                return code
            ticks = "``" if "`" in code else "`"
            pad = " " if code.startswith("`") or code.endswith("`") else ""
            return f"{ticks}{pad}{code}{pad}{ticks}"
        if tag == "br":
            return "\n"
        return self.flat(node, inline=True)

    def flat(self, node: LexborNode, *, inline: bool = False) -> str:
        """The node's content as one line of inline Markdown (block structure flattened).

        ``inline`` keeps ``<br>`` as a line break (inside a paragraph); headings, table cells and
        link texts get a space instead, since they must stay on one line.
        """
        parts: list[str] = []
        child = node.child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                parts.append(_escape_text(child.text_content or ""))
            elif tag in _BLOCK_TAGS:
                if self.probing:
                    raise _WrapsBlocks
                parts.append(" " + self.flat(child) + " ")
            elif tag[:1] not in "-_!" and tag not in _SKIP_INLINE:
                try:
                    piece = self.inline(child, tag)
                except _WrapsBlocks:
                    self.wrappers.add(child.mem_id)
                    raise
                if piece == "\n" and not inline:
                    piece = " "
                parts.append(piece)
            child = child.next
        text = "".join(parts)
        if not inline and "\n" in text:
            text = text.replace("\\\n", " ").replace("\n", " ")
        return text

    def listing(self, node: LexborNode, ordered: bool, out: list[str]) -> None:
        """A list, tolerant of the invalid lists real pages are full of.

        Browsers show text, inline elements and blocks sitting directly in a list (outside any
        ``<li>``) as unmarked blocks under the item before them; they are kept there, not dropped
        and not promoted to numbered items (which would also shift the numbering). Wrappers
        between the list and its items (``<ul><div><li>``) are looked through.
        """
        reverse = ordered and "reversed" in node.attributes
        number = _int_attr(node, "start") if ordered else None
        if number is None:
            number = sum(1 for c in _list_children(node) if c.tag == "li") if reverse else 1
        step = -1 if reverse else 1
        items: list[str] = []
        loose: list[str] = []  # blocks outside any item, shown under the item before them
        run: list[str] = []
        for child in _list_children(node):
            tag = child.tag or ""
            if tag == "-text":
                run.append(_escape_text(child.text_content or ""))
                continue
            if tag[:1] in "-_!" or tag in _SKIP_INLINE:
                continue
            if tag != "li" and tag not in _BLOCK_TAGS:
                self.phrase(child, tag, run, loose)
                continue
            if run:
                self.flush(run, loose)
                run.clear()
            if tag != "li":
                self.block(child, tag, loose)
                continue
            _attach(loose, items, out)
            if ordered:
                value = _int_attr(child, "value")
                if value is not None:
                    number = value
            sub: list[str] = []
            self.blocks(child, sub)
            if sub:
                marker = f"{number}. " if ordered else "- "
                items.append(marker + _indent("\n".join(sub), len(marker), first=False))
            number += step
        if run:
            self.flush(run, loose)
        _attach(loose, items, out)
        if items:
            out.append("\n".join(items))

    def table(self, node: LexborNode, out: list[str]) -> None:
        rows: list[LexborNode] = []
        caption: list[str] = []
        for child in _children(node):
            tag = child.tag or ""
            if tag == "tr":
                rows.append(child)
            elif tag in ("thead", "tbody", "tfoot"):
                rows.extend(c for c in _children(child) if c.tag == "tr")
            elif tag == "caption":
                self.blocks(child, caption)
        out.extend(caption)
        grid = [[c for c in _children(tr) if c.tag in ("td", "th")] for tr in rows]
        width = max((len(r) for r in grid), default=0)
        role = (node.attributes.get("role") or "").lower()
        if width <= 1 or role in ("presentation", "none") or _is_layout(node, grid):
            # a layout table: its cells are page regions, not data
            for cells in grid:
                for cell in cells:
                    self.blocks(cell, out)
            return
        lines: list[str] = []
        for n, cells in enumerate(grid):
            texts = [_one_line(self.flat(c)).replace("|", "\\|") for c in cells]
            texts += [""] * (width - len(texts))
            lines.append("| " + " | ".join(texts) + " |")
            if n == 0:
                lines.append("|" + " --- |" * width)
        if lines:
            out.append("\n".join(lines))


def _is_layout(table: LexborNode, grid: list[list[LexborNode]]) -> bool:
    """Whether a table of two or more columns lays out page regions rather than data.

    A table inside a cell is layout. A heading inside a cell is not enough: data tables name a
    row's category with an ``<h4>`` or ``<h5>`` as often as with bold text, and reading them as
    regions would break every row into loose paragraphs. It is layout when one cell also holds
    most of the table's text -- the page body beside a navigation or logo column -- since a
    region that big flattened into one table row would become a single giant clause.
    """
    if any(inner.mem_id != table.mem_id for inner in table.css("table")):
        return True
    if table.css_first(_HEADING_TAGS) is None:
        return False
    sizes = [_text_length(c) for cells in grid for c in cells]
    return max(sizes) * 2 > sum(sizes)


def _children(node: LexborNode) -> Iterable[LexborNode]:
    child = node.child
    while child is not None:
        yield child
        child = child.next


def _list_children(node: LexborNode) -> Iterable[LexborNode]:
    """A list's children, looking through wrappers that hold ``<li>`` (``<ul><div><li>``)."""
    child = node.child
    while child is not None:
        tag = child.tag or ""
        if (
            tag != "li"
            and tag[:1] not in "-_!"
            and tag not in _LIST_TAGS
            and any(c.tag == "li" for c in _children(child))
        ):
            yield from _list_children(child)
        else:
            yield child
        child = child.next


def _attach(loose: list[str], items: list[str], out: list[str]) -> None:
    """Put blocks found between list items under the last item, or before the list."""
    if not loose:
        return
    if items:
        width = items[-1].index(" ") + 1  # the marker: "- " or "12. "
        items[-1] += "\n" + _indent("\n".join(loose), width)
    else:
        out.extend(loose)
    loose.clear()


def _indent(text: str, width: int, *, first: bool = True) -> str:
    pad = " " * width
    lines = text.split("\n")
    start = 0 if first else 1
    for i in range(start, len(lines)):
        if lines[i]:
            lines[i] = pad + lines[i]
    return "\n".join(lines)


def _css(tree: LexborHTMLParser | LexborNode, selector: str, name: str) -> list[LexborNode]:
    from selectolax.lexbor import SelectolaxError

    try:
        return list(tree.css(selector))
    except SelectolaxError as exc:
        raise ExtractError(f"{name}: invalid CSS selector {selector!r}") from exc


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """Distinct nodes in document order, dropping any inside another one of them."""
    seen: set[int] = set()
    unique: list[LexborNode] = []
    for node in nodes:
        if node.mem_id not in seen:
            seen.add(node.mem_id)
            unique.append(node)
    result = []
    for node in unique:
        parent = node.parent
        while parent is not None and parent.mem_id not in seen:
            parent = parent.parent
        if parent is None:
            result.append(node)
    return result


def _hides_itself(node: LexborNode) -> bool:
    attrs = node.attributes
    if "hidden" in attrs:
        value = attrs["hidden"]
        if not (isinstance(value, str) and value.lower() == "until-found"):
            return True
    if (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    return bool(_STYLE_HIDDEN.search(attrs.get("style") or ""))


def _collapsed_panels(tree: LexborHTMLParser) -> set[int]:
    """The ``mem_id`` of hidden elements that are collapsed accordion or tab panels.

    FAQ-style policies put whole sections in accordions, and some put them in tabs: a button
    with ``aria-expanded`` (or a ``role="tab"``) whose ``aria-controls`` names a panel hidden
    with ``hidden``, ``aria-hidden`` or ``display:none`` until clicked. That text is policy text
    a reader opens with one click; pruning it as hidden would drop most of such a policy, and
    would record a policy change whenever the site changes which panel starts open.

    Not kept: what a popup button controls (``aria-haspopup``: menus, listboxes, comboboxes)
    and panels that are navigation or dialogs (a menu toggle, a cookie-settings dialog). When
    several elements share the panel's id (a copied block of tabs, each copy showing another
    panel) and one of them is shown, the hidden copies are duplicates and stay pruned;
    otherwise only the first is kept.
    """
    wanted: set[str] = set()
    for control in tree.css("[aria-controls]"):
        attrs = control.attributes
        popup = (attrs.get("aria-haspopup") or "false").lower()
        role = (attrs.get("role") or "").lower()
        if popup != "false" or role in _POPUP_ROLES:
            continue
        if role == "tab" or "aria-expanded" in attrs:
            wanted.update((attrs.get("aria-controls") or "").split())
    if not wanted:
        return set()
    panels: dict[str, list[LexborNode]] = {}
    for node in tree.css("[id]"):
        ident = node.attributes.get("id")
        if ident in wanted:
            panels.setdefault(ident, []).append(node)
    kept: set[int] = set()
    for copies in panels.values():
        if not all(_hides_itself(n) for n in copies):
            continue
        panel = copies[0]
        role = (panel.attributes.get("role") or "").lower()
        if panel.tag not in ("nav", "dialog") and role not in _POPUP_ROLES:
            kept.add(panel.mem_id)
    return kept


def _aria_headings(tree: LexborHTMLParser) -> dict[int, int]:
    """``mem_id`` -> level of ``role="heading"`` elements (``aria-level``, 2 when absent or bad)."""
    found: dict[int, int] = {}
    for node in tree.css('[role="heading" i]'):
        if (node.tag or "") in _HEADINGS:
            continue
        level = _int_attr(node, "aria-level")
        found[node.mem_id] = min(max(level, 1), 6) if level is not None else 2
    return found


def _text_length(node: LexborNode) -> int:
    return len(_WS_HTML.sub("", node.text(deep=True)))


def html_to_markdown(
    html: str,
    *,
    select: Sequence[str] = (),
    remove: Sequence[str] = (),
    name: str = "<input>",
) -> str:
    """Convert an HTML page (or the parts ``select`` picks) to Markdown.

    ``remove`` selectors are applied first, then ``select``: every match of every selector, in
    document order, each element once even when matches nest. A ``select`` that matches nothing
    is an :class:`ExtractError` -- the page changed shape or is an error page, and recording it
    would announce the policy as deleted. Without ``select``, a single ``<main>`` (or a single
    ``<article>`` holding most of the text) is used, else ``<body>``.

    Text a reader cannot see never reaches the Markdown: scripts, styles, templates, SVG and
    elements hidden with ``hidden``, ``aria-hidden="true"`` or inline ``display:none`` /
    ``visibility:hidden`` (hidden "A/B" variants would otherwise flip-flop between revisions) --
    except collapsed accordion and tab panels, which the reader opens with one click.
    """
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    doomed = [n for sel in remove for n in _css(tree, sel, name)]
    hidden = list(tree.css(_PRUNE))
    # <html>/<body> hidden by an inline style are an anti-flicker trick (shown by a script once
    # the page is ready), not hidden content: pruning them would leave nothing.
    hidden.extend(
        n
        for n in tree.css(_PRUNE_STYLED)
        if n.tag not in ("html", "body") and _STYLE_HIDDEN.search(n.attributes.get("style") or "")
    )
    collapsed = _collapsed_panels(tree)
    if collapsed:
        hidden = [n for n in hidden if n.mem_id not in collapsed]
    doomed.extend(hidden)
    # Decompose outermost nodes only: a node inside an already freed subtree must not be touched.
    for node in _outermost(doomed):
        node.decompose()

    roots: list[LexborNode]
    if select:
        matches = []
        for sel in select:
            matches.extend(_css(tree, sel, name))
        if len(select) > 1 and matches:
            matches = list(tree.css(", ".join(select)))  # document order across selectors
        roots = _outermost(matches)
        if not roots:
            shown = ", ".join(repr(s) for s in select)
            noun = "selector" if len(select) == 1 else "selectors"
            raise ExtractError(f"{name}: the {noun} {shown} matched nothing")
    else:
        roots = []
        body = tree.body
        whole = _text_length(body) if body is not None else 0
        for candidate, share in (("main, [role=main]", 0.2), ("article", 0.5)):
            found = _outermost(list(tree.css(candidate)))
            if len(found) == 1 and _text_length(found[0]) >= share * whole:
                roots = found
                break
        if not roots:
            root = body if body is not None else tree.root
            if root is None:
                return ""
            roots = [root]

    converter = _Markdown(_aria_headings(tree))
    out: list[str] = []
    for root in roots:
        tag = root.tag or ""
        if tag in _BLOCK_TAGS:
            converter.block(root, tag, out)
        elif tag[:1] in "-_!":  # the document node when there is no body
            converter.blocks(root, out)
        else:  # an inline element picked by ``select``: a paragraph, or a container of blocks
            run: list[str] = []
            converter.phrase(root, tag, run, out)
            if run:
                converter.flush(run, out)
    text = "\n\n".join(out)
    return text + "\n" if text else ""


# --------------------------------------------------------------------------------------------
# PDF


def _pdf_text(content: bytes, name: str) -> str:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every odd xref
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [_lf(page.extract_text() or "") for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractError(f"{name}: unreadable PDF: {exc}") from exc
    text = _join_pdf_pages(pages)
    if not text.strip():
        raise ExtractError(
            f"{name}: the PDF has no extractable text (a scanned document needs OCR first)"
        )
    return text + "\n"


#: a line that is only a page number: "7", "- 7 -", "Page 7", "page 7 of 12", "7/12", "p. 7"
_PAGE_NUMBER = re.compile(
    r"^[\s\-–—]*(?:(?:page|p\.|seite|página|pagina)\s*)?\d{1,4}(?:\s*(?:/|of|de|sur|von)\s*\d{1,4})?"
    r"[\s\-–—]*$",
    re.IGNORECASE,
)
#: how many lines at the top and at the bottom of a page may be a running header or footer
_EDGE_LINES = 2


def _join_pdf_pages(pages: list[str]) -> str:
    """The pages' text as one document, without what only the page layout put there.

    Running headers and footers ("Acme Privacy Policy | March 2026", "Page 3 of 12") and bare
    page numbers repeat on every page; when an edit on page 2 reflows everything after it, they
    land between other sentences and every later page would read as changed. A line within two
    lines of a page's top or bottom is dropped when, digits aside, it is found there on at least
    half of the pages (of three or more), or when it is only a page number. Pages are then
    joined as lines of one text, not as paragraphs: a sentence that runs onto the next page
    stays one sentence wherever the page break falls.
    """
    lines = [[ln.rstrip() for ln in page.split("\n")] for page in pages]
    lines = [[ln for ln in page if ln.strip()] for page in lines]
    edges: dict[str, int] = {}
    for page in lines:
        for key in {_edge_key(ln) for ln in _edge(page)}:
            edges[key] = edges.get(key, 0) + 1
    counted = sum(1 for page in lines if page)
    running = {key for key, n in edges.items() if n * 2 >= counted} if counted >= 3 else set[str]()
    kept: list[str] = []
    for page in lines:
        top = set(range(min(_EDGE_LINES, len(page))))
        bottom = set(range(max(len(page) - _EDGE_LINES, 0), len(page)))
        for i, line in enumerate(page):
            if (i in top or i in bottom) and (
                _PAGE_NUMBER.match(line) or _edge_key(line) in running
            ):
                continue
            kept.append(line.strip())  # an indented line must not become a code block
    return "\n".join(kept).strip()


def _edge(page: list[str]) -> list[str]:
    return page[:_EDGE_LINES] + page[max(len(page) - _EDGE_LINES, _EDGE_LINES) :]


def _edge_key(line: str) -> str:
    """A header or footer line as it repeats from page to page: numbers (pages, dates) aside."""
    return re.sub(r"\d+", "#", " ".join(line.split()).casefold())


# --------------------------------------------------------------------------------------------
# entry points


def media_type_for(name: str, content: bytes) -> str:
    """The media type of a local file, by extension, then by sniffing the bytes.

    A PDF is a PDF whatever its name says; otherwise the extension decides, and a file without a
    known one is HTML when it starts like HTML, else Markdown (a superset of plain text).
    """
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    suffix = Path(name).suffix.lower()
    known = _MEDIA_BY_SUFFIX.get(suffix)
    if known:
        return known
    head = content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "text/html"
    return "text/markdown"


def _to_document(
    content: bytes,
    media_type: str,
    *,
    name: str,
    charset: str | None,
    select: Sequence[str],
    remove: Sequence[str],
) -> Document:
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind == "application/pdf":
        return Document(name=name, text=_pdf_text(content, name))
    if not kind.startswith("text/") and kind != "application/xhtml+xml":
        raise ExtractError(f"{name}: cannot extract text from {kind or 'an unknown media type'}")
    text = _lf(decode(content, declared=charset, name=name))
    if text.startswith("\ufeff"):
        text = text[1:]
    if kind in ("text/html", "application/xhtml+xml"):
        return Document(
            name=name, text=html_to_markdown(text, select=select, remove=remove, name=name)
        )
    if kind == "text/plain":
        return Document(name=name, text=text)
    metadata, body = split_front_matter(text, name)
    return Document(name=name, text=body, metadata=metadata)


def extract(
    snapshot: Snapshot,
    *,
    select: Sequence[str] = (),
    remove: Sequence[str] = (),
    name: str | None = None,
) -> Document:
    """Snapshot -> Document, dispatching on ``snapshot.media_type``.

    Every failure is an :class:`ExtractError` (a :class:`SourceError`): a fetched page that turns
    out binary, undecodable or empty is *this* policy's failure, reported while the other
    policies go on -- not a reason to stop the whole run. An empty text is refused because an
    empty body, not a deleted policy, is what error pages and bot walls look like.
    """
    label = name or snapshot.source
    try:
        doc = _to_document(
            snapshot.content,
            snapshot.media_type,
            name=label,
            charset=snapshot.charset,
            select=select,
            remove=remove,
        )
    except InputError as exc:
        raise ExtractError(str(exc)) from exc
    if not doc.text.strip():
        raise ExtractError(f"{label}: no text extracted (empty document)")
    return doc


def read_document(path: Path, *, max_bytes: int = MAX_BYTES) -> Document:
    """Read a file named on the command line (``policywatch diff OLD NEW``) as a Document.

    Size is checked with ``stat`` before reading, so a huge file is refused without being loaded.
    Pipes and devices (``<(curl ...)``) have no size, so at most ``max_bytes + 1`` bytes are read.
    An empty file is allowed: diffing against nothing shows every clause as added.
    """
    import stat as stat_module

    label = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=label) from None
    except PermissionError:
        raise InputError("cannot read: permission denied", path=label) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=label) from exc
    if stat_module.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not a file", path=label)
    regular = stat_module.S_ISREG(info.st_mode)
    if regular and info.st_size > max_bytes:
        raise InputError(
            f"is {_size(info.st_size)}, more than the limit of {_size(max_bytes)}", path=label
        )
    try:
        with path.open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except PermissionError:
        raise InputError("cannot read: permission denied", path=label) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=label) from exc
    if len(content) > max_bytes:
        raise InputError(f"is more than the limit of {_size(max_bytes)}", path=label)
    media_type = media_type_for(path.name, content)
    try:
        return _to_document(content, media_type, name=label, charset=None, select=(), remove=())
    except ExtractError as exc:
        raise InputError(str(exc).removeprefix(f"{label}: "), path=label) from exc


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB ({n} bytes)"
    return f"{n / (1024 * 1024):.1f} MB ({n} bytes)"
