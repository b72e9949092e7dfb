"""RawRecord -> Paper: arXiv ids and versions, LaTeX to Unicode, code links, dedup keys. Pure, no I/O."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import operator
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pylatexenc import latexwalker
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db
from pylatexenc.macrospec import std_macro

from paperwire.merge import content_hash
from paperwire.models import Paper, RawRecord, Version

__all__ = [
    "MIRROR_HOSTS",
    "Normalizer",
    "clean_whitespace",
    "extract_links",
    "latex_to_text",
    "normalize",
    "parse_arxiv_id",
    "title_key",
]

# ---------------------------------------------------------------------------------------------------
# whitespace

_CR = re.compile(r"\r\n?|[\u2028\u2029\x85]")
# lone surrogates too: they cannot be encoded, so no store or hash could take them
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")
_HSPACE = re.compile(r"[^\S\n]+")
_SPACE_BEFORE_NL = re.compile(r" +\n")
_NEWLINES = re.compile(r"\n[ \n]*")
# closing quotes/brackets may follow the full stop that ends a paragraph
_SENTENCE_END = re.compile(r"[.!?:][\"'\u201d\u2019)\]]*\Z")


def clean_whitespace(s: str, *, paragraphs: bool = True) -> str:
    """Undo hard line wraps: one space between words, "\\n\\n" between paragraphs, no control chars."""
    # The common cases first, without a regex: printable text whose only spaces are single " " (the
    # one whitespace character isprintable() allows), one line or hard-wrapped at single newlines.
    if s.isprintable():
        return s.strip(" ") if "  " not in s else " ".join(s.split())
    flat = s.replace("\n", " ")
    if "  " not in flat and flat.isprintable():  # no blank line, no space beside a newline
        return flat.strip(" ")
    return _repair_whitespace(s, paragraphs)


def _repair_whitespace(s: str, paragraphs: bool) -> str:
    """clean_whitespace() for any text: what its shortcuts give for the texts they take."""
    s = _CONTROL.sub("", _CR.sub("\n", s))
    s = _SPACE_BEFORE_NL.sub("\n", _HSPACE.sub(" ", s))
    if not paragraphs:
        return " ".join(s.split())

    def join(m: re.Match[str]) -> str:
        # arXiv wraps at ~80 columns and indents a new paragraph ("\n  "), but continuation lines
        # are sometimes indented too, so an indent only counts after the end of a sentence
        run = m.group()
        if run.count("\n") > 1:
            return "\n\n"
        if run != "\n" and _SENTENCE_END.search(m.string[max(0, m.start() - 8) : m.start()]):
            return "\n\n"
        return " "

    return _NEWLINES.sub(join, s).strip(" \n")


# ---------------------------------------------------------------------------------------------------
# LaTeX -> Unicode

_GLUED = re.compile(
    r"(?<=\d)pm(?=\d)|(?<=\d)times(?![a-z])|(?<=[A-Za-z0-9])cdot(?=[A-Z0-9])|(?<=[A-Z0-9])cdot(?=[a-z])"
)
_GLUED_REPL = {"pm": "\u00b1", "times": "\u00d7", "cdot": "\u00b7"}

# braces nested up to three deep; bounded repeats keep malformed input from going quadratic
_BAL = r"\{(?:[^{}]|\{(?:[^{}]|\{[^{}]{0,300}\}){0,300}\}){0,300}\}"
_SPAN = re.compile(
    r"\$\$(?:[^$\\]|\\.)+?\$\$"  # display math
    r"|\$(?:[^$\\]|\\.)+?\$"  # inline math, paired left to right as TeX (and arXiv's MathJax) do
    r"|\\\(.{0,2000}?\\\)"
    r"|\\\[.{0,2000}?\\\]"
    r"|\\begin\{([A-Za-z]+\*?)\}.{0,2000}?\\end\{\1\}"
    r"|\{\\(?:[^{}]|" + _BAL + r"){0,300}\}"  # {\em x}, {\"u}
    r"|\\['\"^`~=.](?:[A-Za-z]|\\[ij](?![A-Za-z])|" + _BAL + r")"  # accents: \'e, \"{o}
    r"|\\[A-Za-z]+\*?(?:\s*(?:\[[^\[\]{}$]{0,80}\])?\s*" + _BAL + r")*"  # \emph{x}, \cdot
    r"|\\[^A-Za-z\s]",  # \%, \&, \$, \\
    re.DOTALL,
)
_TEX_SPECIAL = re.compile(r"(?<!\\)([%&#])")  # abstracts are not documents: % is a percent sign
_WS = re.compile(r"\s+")
_GAP = "\ue000"  # marks where an unknown macro's name ended
_GAP_RE = re.compile(_GAP + r"(?=\w)")


def _unknown_macro(n: Any) -> str:
    # in math an unknown macro is markup MathJax knows and pylatexenc does not (\boldsymbol, \bm):
    # drop it, as pylatexenc does; in text it is a name ("\ours", "C:\Users"): keep it searchable
    if n.parsing_state.in_math_mode:
        return ""
    return str(n.macroname) + _GAP


class _Converter(LatexNodes2Text):  # type: ignore[misc]
    def apply_simplify_repl(self, node: Any, simplify_repl: Any, what: str) -> Any:
        if isinstance(simplify_repl, str) and "%" in simplify_repl and len(simplify_repl) > 1:
            args = node.nodeargd.argnlist if node.nodeargd is not None else None
            if not args or all(a is None for a in args):
                # "\underline x": TeX takes the next token as the argument, pylatexenc takes none
                # and would return the template "%s" itself
                return ""
        return super().apply_simplify_repl(node, simplify_repl, what)


def _args(n: Any, l2tobj: Any, count: int) -> list[str]:
    # pylatexenc leaves arguments out (None, or no nodeargd at all) where the input lacks them
    given = list(n.nodeargd.argnlist) if n.nodeargd is not None and n.nodeargd.argnlist else []
    given += [None] * (count - len(given))
    return [l2tobj.nodelist_to_text([arg]).strip() if arg is not None else "" for arg in given[:count]]


def _href(n: Any, l2tobj: Any) -> str:
    url, text = _args(n, l2tobj, 2)
    return url if not text else text if text == url or not url else f"{text} <{url}>"


def _unicode(n: Any, l2tobj: Any) -> str:
    # MathJax's \unicode{x2013}, which arXiv abstracts use for characters TeX lacks
    code = _args(n, l2tobj, 1)[0].lower()
    try:
        char = chr(int(code[1:], 16) if code.startswith("x") else int(code))
    except (ValueError, OverflowError):
        return ""
    return "" if unicodedata.category(char) in ("Cc", "Cs") else char  # no NULs or lone surrogates


def _deg(n: Any) -> str:
    # arXiv writes a degree sign in text as {\deg}; in math \deg is the operator
    return "deg" if n.parsing_state.in_math_mode else "\u00b0"


# What pylatexenc lacks and arXiv abstracts use. Macros it does not know at all keep their name in
# text (authors' own \method, \ours) and vanish in math (\boldsymbol, \bm): see _unknown_macro.
_ARGUMENTS = {"href": 2, "unicode": 1, "textcolor": 2, "color": 1, "tfrac": 2, "dfrac": 2, "binom": 2}
_WORDS = {
    **{"eg": "e.g.", "ie": "i.e.", "etal": "et al.", "wrt": "w.r.t.", "etc": "etc.", "vs": "vs."},
    **{"ne": "\u2260", "degree": "\u00b0", "checkmark": "\u2713", "url": "%s", "textcolor": "%(2)s"},
    **{name: name for name in ("gcd", "dim", "arg", "det", "ker")},
    **{"tfrac": "%(1)s/%(2)s", "dfrac": "%(1)s/%(2)s", "binom": "(%(1)s choose %(2)s)"},
}
_DROPPED = ("cite", "citep", "citet", "ref", "eqref", "cref", "Cref", "autoref", "label", "color")
# font switches, sizes and spacing: nothing to show, but what follows them stays
_TRANSPARENT = (
    *("texttt", "textsf", "textup", "textmd", "textnormal", "textsubscript", "textsuperscript", "mbox"),
    *("mathds", "em", "it", "bf", "tt", "rm", "sc", "sf", "sl", "boldmath", "unboldmath", "noindent"),
    *("tiny", "scriptsize", "footnotesize", "small", "normalsize", "large", "Large", "LARGE", "huge", "Huge"),
    *("left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr"),
    *("displaystyle", "textstyle", "limits", "centering", "par", "newline", "linebreak"),
    *("gls", "glspl", "ac", "acs", "acl", "acf"),
)


@functools.cache
def _converter() -> tuple[Any, Any]:
    """(LatexNodes2Text, the LatexWalker context for it), built on first use, not at import time."""
    walker_db = latexwalker.get_default_latex_context_db()
    arguments = [std_macro(name, False, count) for name, count in _ARGUMENTS.items()]
    walker_db.add_context_category("paperwire", macros=arguments, prepend=True)
    db = get_default_latex_context_db()
    db.add_context_category(
        "paperwire",
        macros=[MacroTextSpec(m, discard=False) for m in _TRANSPARENT]
        + [MacroTextSpec(m, simplify_repl="") for m in _DROPPED]
        + [MacroTextSpec(m, simplify_repl=text) for m, text in _WORDS.items()]
        + [
            MacroTextSpec("href", simplify_repl=_href),
            MacroTextSpec("unicode", simplify_repl=_unicode),
            MacroTextSpec("deg", simplify_repl=_deg),
        ],
        prepend=True,
    )
    db.set_unknown_macro_spec(MacroTextSpec("", simplify_repl=_unknown_macro))
    return _Converter(latex_context=db, math_mode="text"), walker_db


def _pylatexenc(tex: str) -> str:
    converter, walker_db = _converter()
    return str(converter.latex_to_text(tex, latex_context=walker_db))


def _tidy(text: str) -> str:
    text = _WS.sub(" ", text).replace("^\u2218", "\u00b0")  # 30$^\circ$ is a degree sign
    stripped = text.strip()
    return stripped if stripped else text  # a span that was only space (\quad, \\) stays one space


def _convert_span(span: str) -> str:
    # the same short spans ($\times$, \%, $k$) recur across abstracts; long ones rarely do, and
    # caching them would let a few odd records fill memory
    return _convert_cached(span) if len(span) <= 200 else _convert(span)


def _convert(span: str) -> str:
    try:
        text = _tidy(_pylatexenc(_TEX_SPECIAL.sub(r"\\\1", span)))
    except Exception:  # pylatexenc raises on some malformed TeX; ours must not
        text = _fallback(span)
    if span.startswith("$") and not span.startswith("$$"):
        # "$5 and $10" pairs like math in TeX; keep the spaces its content had at the ends
        text = (" " if span[1].isspace() else "") + text + (" " if span[-2].isspace() else "")
    return text


_convert_cached = functools.lru_cache(maxsize=32768)(_convert)


def _fallback(span: str) -> str:
    """Cleaned raw text for a span pylatexenc could not convert: no delimiters, no backslashes."""
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if span.startswith(opener) and span.endswith(closer) and len(span) >= len(opener) + len(closer):
            return latex_to_text(span[len(opener) : len(span) - len(closer)]).strip()
    if span.startswith("{"):
        return latex_to_text(span[1:-1]).strip()
    if span.startswith("\\begin{"):
        return _tidy(latex_to_text(re.sub(r"\\(?:begin|end)\{[^{}]*\}", " ", span)))
    m = re.match(r"\\([A-Za-z]+|.)", span, re.DOTALL)
    if m is None:
        return span
    head = _convert_symbol(m.group())
    rest = re.sub(r"(?<!\\)[{}\[\]]", " ", span[m.end() :])
    return _tidy(head + " " + latex_to_text(rest))


@functools.lru_cache(maxsize=4096)
def _convert_symbol(command: str) -> str:
    try:
        return _tidy(_pylatexenc(command))
    except Exception:
        return command.lstrip("\\")


def _plain(text: str) -> str:
    # outside TeX spans only malformed leftovers change: lone $, stray backslashes, glued macros
    if "$" in text or "\\" in text:
        text = text.replace("$", "").replace("\\", "")
    if not _maybe_glued(text):  # every _GLUED match passes this check, which is ~20x cheaper
        return text
    return _GLUED.sub(lambda m: _GLUED_REPL[m.group()], text)


def _maybe_glued(s: str) -> bool:
    # str.find runs at C speed; "pm" alone is in every "development", so look at the digit before it
    for word in ("pm", "times", "cdot"):
        i = s.find(word)
        while i != -1:
            if word == "cdot" or (i and s[i - 1].isdigit()):
                return True
            i = s.find(word, i + 2)
    return False


def latex_to_text(s: str) -> str:
    """LaTeX to plain Unicode, converting only the TeX spans; never raises."""
    # most abstracts have no TeX: substring tests are ~10x faster than any regex search here
    if "$" not in s and "\\" not in s and not _maybe_glued(s):
        return s
    out: list[str] = []
    pos = 0
    for m in _SPAN.finditer(s):
        out.append(_plain(s[pos : m.start()]))
        out.append(_convert_span(m.group()))
        pos = m.end()
    out.append(_plain(s[pos:]))
    text = "".join(out)
    if _GAP in text:
        text = _GAP_RE.sub(" ", text).replace(_GAP, "")
    return text


# ---------------------------------------------------------------------------------------------------
# arXiv ids

_ARXIV_PREFIX = (
    r"(?:arxiv:|oai:arxiv\.org:"
    r"|(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html|format)/"
    r"|(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co|hf-mirror\.com|hf\.mirrork\.net)/papers/)?"
)
_ARXIV_ID = re.compile(
    _ARXIV_PREFIX
    + r"(?:(?P<yymm>\d{4})\.(?P<num>\d{4,5})"
    + r"|(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]{2}(?:-[a-z]{2})?)?/(?P<old>\d{7}))"
    + r"(?:v(?P<version>\d{1,4}))?(?:\.pdf)?/?(?:[?#]\S*)?",
    re.IGNORECASE,
)


def parse_arxiv_id(s: str) -> tuple[str, int | None] | None:
    """(bare id, version or None) for an arXiv id or URL, None for anything else."""
    m = _ARXIV_ID.fullmatch(s.strip())
    if m is None:
        return None
    if m["yymm"]:
        mm = int(m["yymm"][2:])
        # 4-digit numbers ran from 0704 to 1412, 5-digit ones from 1501 on
        if not 1 <= mm <= 12 or m["yymm"] < "0704" or (len(m["num"]) == 5) != (m["yymm"] >= "1501"):
            return None
        bare = f"{m['yymm']}.{m['num']}"
    else:
        yy, mm = int(m["old"][:2]), int(m["old"][2:4])
        if not 1 <= mm <= 12 or 7 < yy < 91 or m["archive"] != m["archive"].lower():
            return None
        # "math.GT/0309136": the subject class is not part of the identifier (arXiv's own rule)
        bare = f"{m['archive']}/{m['old']}"
    version = int(m["version"]) if m["version"] else None
    if version == 0:
        return None
    return bare, version


# ---------------------------------------------------------------------------------------------------
# links

MIRROR_HOSTS: dict[str, str] = {
    "hf.mirrork.net": "huggingface.co",
    "hf-mirror.com": "huggingface.co",
    "hf.co": "huggingface.co",
    "www.huggingface.co": "huggingface.co",
    "www.github.com": "github.com",
    "www.gitlab.com": "gitlab.com",
    "www.bitbucket.org": "bitbucket.org",
    "www.codeberg.org": "codeberg.org",
}
_CODE_HOSTS = frozenset(
    {
        "github.com",
        "gist.github.com",
        "gitlab.com",
        "bitbucket.org",
        "codeberg.org",
        "huggingface.co",
        "sourceforge.net",
        "anonymous.4open.science",
    }
)
_PROJECT_SUFFIXES = (".github.io", ".gitlab.io")
_NOT_LINKS = frozenset(
    {"arxiv.org", "export.arxiv.org", "doi.org", "dx.doi.org", "youtu.be", "youtube.com", "www.youtube.com"}
)
_OPENER = {")": "(", "]": "[", "}": "{"}
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]"  # RFC 3986; stops at spaces, braces, CJK text
_BARE_HOSTS = (
    *("github.com", "gitlab.com", "huggingface.co", "hf.co", "bitbucket.org", "codeberg.org"),
    *("sourceforge.net", "github.io", "gitlab.io", "hf-mirror.com", "hf.mirrork.net"),
)
_URL = re.compile(
    r"https?://" + _URL_CHARS + r"+"
    r"|(?<![\w@/.:-])(?:[a-z0-9-]+\.)*(?:"
    + "|".join(map(re.escape, _BARE_HOSTS))
    + r")(?![a-z0-9-])"
    + _URL_CHARS
    + r"*",
    re.IGNORECASE | re.ASCII,
)
_TEX_ESCAPE = re.compile(r"\\([_%&#~$])")
_CUE = re.compile(
    r"(?P<project>project(?:\s+|-)?(?:page|website|site|homepage|webpage|url)|home\s?page|web\s?site"
    r"|web\s?page|demo\s+page)"
    r"|(?P<code>\bcodes?\b|repository|\brepo\b|implementation|source\s+code)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r".*(?:[.!?;]\s|\n)", re.DOTALL)


def _clean_url(url: str) -> str | None:
    url = url.strip()
    while url:
        last = url[-1]
        if last in ".,;:!?'\"*>":
            url = url[:-1]
        elif last in _OPENER and url.count(_OPENER[last]) < url.count(last):
            url = url[:-1]  # "(see https://x/y)" but not "https://x/Foo_(bar)"
        elif url.lower().endswith(".git"):
            url = url[:-4]
        else:
            break
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "." not in host:
        return None
    host = MIRROR_HOSTS.get(host, host)
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit(("https", netloc, path, parts.query, parts.fragment))


def _link_kind(url: str, before: str) -> str | None:
    parts = urlsplit(url)
    host, path = parts.hostname or "", parts.path
    if host in _CODE_HOSTS or host.endswith(".sourceforge.net"):
        if host == "huggingface.co" and (path.startswith("/papers") or not path):
            return None
        return "code" if path else None
    if host.endswith(_PROJECT_SUFFIXES):
        return "project"
    if host in _NOT_LINKS:
        return None
    # other hosts count only when the text just before names them ("Project page: ...", "Code: ...")
    clause = _CLAUSE_END.sub("", before[-80:])
    cues = list(_CUE.finditer(clause))
    return cues[-1].lastgroup if cues else None


_BARE_HOSTS_FOLDED = tuple(host.encode() for host in _BARE_HOSTS)
_HOST_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-.")


def _urls(text: str) -> Iterator[re.Match[str]]:
    """_URL.finditer(text), trying _URL only where a match can start: ~10x faster on an abstract."""
    # ASCII-lowercased, one byte per character so that offsets are the text's (as IGNORECASE|ASCII)
    folded = text.encode("ascii", "replace").lower()
    starts = set(_occurrences(folded, b"http"))
    for host in _BARE_HOSTS_FOLDED:
        for start in _occurrences(folded, host):
            # a bare URL starts where the run of host characters around its host does: the
            # lookbehind rules out any start after a letter, digit, "-" or "."
            while start and folded[start - 1] in _HOST_CHARS:
                start -= 1
            starts.add(start)
    end = 0
    for start in sorted(starts):
        if start >= end and (m := _URL.match(text, start)):
            yield m
            end = m.end()


def _occurrences(text: bytes, sub: bytes) -> Iterator[int]:
    start = text.find(sub)
    while start != -1:
        yield start
        start = text.find(sub, start + 1)


def extract_links(text: str) -> tuple[list[str], list[str]]:
    """(code links, project links) found in free text, cleaned, canonical and deduplicated."""
    # a text without "://" needs one of the bare hosts to hold a URL, and each of them contains one
    # of these endings: four substring tests are much cheaper than the regex
    if "://" not in text:
        lowered = text.lower()
        if ".co" not in lowered and ".org" not in lowered and ".net" not in lowered and ".io" not in lowered:
            return [], []
    text = _TEX_ESCAPE.sub(r"\1", text)
    found: dict[str, list[str]] = {"code": [], "project": []}
    previous_end = 0
    for m in _urls(text):
        url = _clean_url(m.group())
        # a cue belongs to the first URL after it: "code (URL) and video (URL)"
        before = text[max(previous_end, m.start() - 200) : m.start()]
        previous_end = m.end()
        if url is None:
            continue
        kind = _link_kind(url, before)
        if kind is not None and url not in found[kind]:
            found[kind].append(url)
    return found["code"], found["project"]


# ---------------------------------------------------------------------------------------------------
# dedup keys

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    bare = latex_to_text(text)
    if not bare.isascii():  # ASCII has no decompositions and no combining marks
        decomposed = unicodedata.normalize("NFKD", bare)
        bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(bare.casefold())


def title_key(title: str) -> str:
    """Comparison key for titles: plain text, no accents, lowercase [a-z0-9] words."""
    return " ".join(_words(title))


# ---------------------------------------------------------------------------------------------------
# RawRecord -> Paper


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional(value: Any) -> str | None:
    if not value or not isinstance(value, str):  # most optional fields of most records
        return None
    return clean_whitespace(value, paragraphs=False) or None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _joined(names: list[Any]) -> str | None:
    """The names joined by spaces, to check them all at once; None when one is not a str."""
    try:
        return " ".join(names)
    except TypeError:
        return None


def _authors(values: Iterable[Any]) -> list[str]:
    names = list(values)
    joined = _joined(names)
    # the usual case, checked on all names at once: every name is already clean plain text
    if (
        joined is not None
        and joined.isprintable()
        and "  " not in joined
        and joined[:1] != " "
        and joined[-1:] != " "
        and "$" not in joined
        and "\\" not in joined
        and not _maybe_glued(joined)
    ):
        return [name for name in names if name]
    cleaned = [latex_to_text(_optional(name) or "").strip() for name in names]
    return [name for name in cleaned if name]


def _categories(values: Iterable[Any]) -> list[str]:
    names = list(values)
    # Kaggle-style records give "cs.CL cs.LG" as one string
    joined = _joined(names)
    if joined is not None and joined.isprintable():
        return _unique(joined.split())  # what cleaning each name and splitting it gives, at once
    return _unique(c for value in names for c in (_optional(value) or "").split())


def _versions(raw: Any, extra: int | None) -> list[Version]:
    dates: dict[int, str | None] = {}
    entries: list[Any] = list(raw or []) + ([(extra, None)] if extra is not None else [])
    for entry in entries:
        if isinstance(entry, Version):
            number, date = entry.number, entry.date
        elif isinstance(entry, tuple | list) and len(entry) == 2:
            number, date = entry
        else:
            continue  # a reader's malformed entry loses that version, not the paper
        try:
            number = int(number)
        except (TypeError, ValueError, OverflowError):
            continue
        if number < 1:
            continue
        if dates.get(number) is None:
            dates[number] = _optional(date)
    return [Version(n, dates[n]) for n in sorted(dates)]


def _links(raw: RawRecord, arxiv_id: str | None, abstract: str, comment: str | None) -> dict[str, Any]:
    given = raw.links if isinstance(raw.links, dict) else {}
    links: dict[str, Any] = {}
    if arxiv_id is not None:
        links = {"abs": f"https://arxiv.org/abs/{arxiv_id}", "pdf": f"https://arxiv.org/pdf/{arxiv_id}"}
    for key, value in given.items():
        name, cleaned = _optional(key), _optional(value)
        if name and cleaned and name not in ("code", "project"):
            links[name] = cleaned
    code: list[str] = []
    project: list[str] = []
    for key, into in (("code", code), ("project", project)):
        urls: Any = given.get(key)  # typed str, but a reader may well pass a list
        for url in [urls] if isinstance(urls, str) else urls if isinstance(urls, list) else []:
            cleaned = _clean_url(_optional(url) or "")
            if cleaned is not None:
                into.append(cleaned)
    for text in (abstract, comment or ""):
        found_code, found_project = extract_links(text)
        code += found_code
        project += found_project
    if code:
        links["code"] = _unique(code)
    if project:
        links["project"] = _unique(project)
    return links


def normalize(raw: RawRecord) -> Paper:
    """Build the stored Paper from one RawRecord; never raises for a record with a str title."""
    title_raw = clean_whitespace(_str(raw.title), paragraphs=False)
    abstract_raw = clean_whitespace(_str(raw.abstract))
    source_id = clean_whitespace(_str(raw.source_id), paragraphs=False)
    parsed = parse_arxiv_id(source_id) if source_id else None
    if parsed is not None:
        paper_id, id_version = parsed
    elif source_id:
        paper_id, id_version = source_id, None
    else:
        # a title without any [a-z0-9] word (e.g. CJK) still needs an id of its own
        key = title_key(title_raw) or title_raw
        paper_id, id_version = "t:" + hashlib.sha1(key.encode()).hexdigest()[:16], None
    versions = _versions(raw.versions, id_version)
    published = _optional(raw.published) or (versions[0].date if versions else None)
    updated = _optional(raw.updated) or (versions[-1].date if versions else None)
    authors = _authors(raw.authors or [])
    categories = _categories(raw.categories or [])
    comment, journal_ref, doi = _optional(raw.comment), _optional(raw.journal_ref), _optional(raw.doi)
    links = _links(raw, paper_id if parsed is not None else None, abstract_raw, comment)
    paper = Paper(
        id=paper_id,
        title=latex_to_text(title_raw),
        title_raw=title_raw,
        abstract=latex_to_text(abstract_raw),
        abstract_raw=abstract_raw,
        authors=authors,
        categories=categories,
        comment=comment,
        journal_ref=journal_ref,
        doi=doi,
        versions=versions,
        published=published,
        updated=updated,
        links=links,
        source=raw.source,
        content_hash="",
        **_record_fields(raw),
    )
    # one definition of the hash, shared with merge(), so a merged paper compares like a new one
    paper.content_hash = content_hash(paper)
    return paper


# What normalize() takes from these RawRecord fields does not depend on the others, and the content
# hash leaves it out: records that differ in nothing else normalise to the same paper otherwise.
_PER_RECORD = ("location", "announced", "signals", "collection")
_SHARED = operator.attrgetter(*(f.name for f in dataclasses.fields(RawRecord) if f.name not in _PER_RECORD))


def _record_fields(raw: RawRecord) -> dict[str, Any]:
    """The Paper fields that come from the per-record fields alone."""
    listed = _optional(raw.announced)  # the first listing date so far, and the date of this text
    return {"announced": listed, "listed": listed, "signals": raw.signals, "collection": raw.collection}


class Normalizer:
    """normalize() with a memory of recent records: a record that differs from a remembered one only
    in its per-record fields (location, listing date, signals, collection) is not normalised again.

    Daily listings repeat a paper under each of its categories: 38% of the real daily records.
    """

    def __init__(self, remember: int = 4096) -> None:
        self.remember = remember
        self._papers: dict[bytes, Paper] = {}

    def __call__(self, raw: RawRecord) -> Paper:
        try:
            key = orjson.dumps(_SHARED(raw))
        except TypeError:  # a value JSON cannot hold (a reader's bug): normalise without remembering
            return normalize(raw)
        known = self._papers.get(key)
        if known is not None:
            fields = _record_fields(raw)
            if all(getattr(known, name) == value for name, value in fields.items()):
                return known  # the same paper: no one changes a Paper once made
            return dataclasses.replace(known, **fields)
        paper = normalize(raw)
        if len(self._papers) >= self.remember:
            del self._papers[next(iter(self._papers))]  # the oldest
        self._papers[key] = paper
        return paper
