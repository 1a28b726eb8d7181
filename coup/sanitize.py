"""The rich-text whitelist for notice `content` (COUP.md §7.8), and its plain-text preview.

Built on the stdlib `html.parser`, so what the browser would see as markup is what we judge.
The output is rebuilt from scratch rather than edited: only whitelisted tags are written, with
no attributes except a checked `href` on `a`; all text is escaped again; every open tag is
closed. Nothing the input says can therefore reach the output as markup unless we wrote it.

Markdown is ordinary text and passes through: only `&` and `<` are escaped in text (a bare `>`
cannot start markup in HTML text, and keeping it keeps Markdown quotes intact), so sanitising
twice gives the same result.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset({
    "b", "i", "u", "em", "strong", "br", "p", "a", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "code", "pre",
})
VOID_TAGS = frozenset({"br"})
# These are removed with everything inside them, not just their tags.
DROP_CONTENT_TAGS = frozenset({"script", "style", "iframe", "object", "embed", "template"})
# `embed` has no end tag: dropping "its content" would swallow the rest of the document.
VOID_DROP_TAGS = frozenset({"embed"})
SAFE_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_ATTRIBUTES = ' target="_blank" rel="noopener noreferrer"'
# Tags after which the plain-text preview starts a new line.
BLOCK_TAGS = frozenset({"p", "li", "ul", "ol", "blockquote", "pre",
                        "h1", "h2", "h3", "h4", "h5", "h6"})

# Browsers ignore ASCII whitespace and control characters inside a URL's scheme
# ("java\tscript:" runs), so they are removed before the scheme is judged.
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f-\x9f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def sanitize_html(text: str) -> str:
    """The whitelisted form of `text` (see the module docstring)."""
    cleaner = _Cleaner()
    cleaner.feed(text)
    cleaner.close()
    return cleaner.result()


def safe_href(value: str | None) -> str | None:
    """The link target if it is an absolute http, https or mailto URL; else None."""
    if not value:
        return None
    url = _URL_IGNORED.sub("", value)
    match = _SCHEME.match(url)
    if match is None or match.group(1).lower() not in SAFE_URL_SCHEMES:
        # Relative and scheme-less URLs are refused too: §7.8 names the schemes allowed.
        return None
    return url


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


class _Cleaner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._open: list[str] = []  # whitelisted tags written and not yet closed
        self._dropping: list[str] = []  # drop-content tags we are inside

    def result(self) -> str:
        while self._open:
            self._out.append(f"</{self._open.pop()}>")
        return "".join(self._out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_CONTENT_TAGS:
            if tag not in VOID_DROP_TAGS:
                self._dropping.append(tag)
            return
        if self._dropping or tag not in ALLOWED_TAGS:
            return
        if tag in VOID_TAGS:
            self._out.append(f"<{tag}>")
            return
        if tag == "a":
            href = safe_href(dict(attrs).get("href"))
            if href is None:
                return  # not a link we allow: its text stays, its tag goes
            self._out.append(f'<a href="{html.escape(href, quote=True)}"{LINK_ATTRIBUTES}>')
        else:
            self._out.append(f"<{tag}>")
        self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # "<br/>" is a line break; "<script/>" still opens a script in a browser, so it
        # starts dropping; "<b/>" is an empty element and writes nothing.
        if tag in VOID_TAGS or tag in DROP_CONTENT_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._dropping:
            if tag in self._dropping:
                while self._dropping.pop() != tag:
                    pass
            return
        if tag not in self._open:
            return
        while self._open:
            closing = self._open.pop()
            self._out.append(f"</{closing}>")
            if closing == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self._out.append(escape_text(data))

    # Comments, doctypes, processing instructions and CDATA sections are all removed.
    def handle_comment(self, data: str) -> None:
        return

    def handle_decl(self, decl: str) -> None:
        return

    def handle_pi(self, data: str) -> None:
        return

    def unknown_decl(self, data: str) -> None:
        return


def to_plain_text(content: str) -> str:
    """The readable text of sanitised content: tags removed, entities decoded, a line break
    after each block, blank lines collapsed."""
    extractor = _TextExtractor()
    extractor.feed(content)
    extractor.close()
    text = "".join(extractor.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def preview(content: str, limit: int) -> tuple[str, bool]:
    """The first `limit` characters of the plain text, and whether anything was cut."""
    text = to_plain_text(content)
    return text[:limit], len(text) > limit


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
