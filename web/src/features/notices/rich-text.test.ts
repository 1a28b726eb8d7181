import { describe, expect, it } from "vitest";
import { looksLikeHtml, markdownToHtml, safeHref } from "./rich-text";

describe("notice Markdown", () => {
  it("renders headings, lists, emphasis and code", () => {
    expect(markdownToHtml("# 제목\n\n- 하나\n- 둘\n\n**굵게** 와 *기울임* `code`")).toBe(
      "<h1>제목</h1><ul><li>하나</li><li>둘</li></ul><p><strong>굵게</strong> 와 <em>기울임</em> <code>code</code></p>");
    expect(markdownToHtml("1. a\n2. b")).toBe("<ol><li>a</li><li>b</li></ol>");
    expect(markdownToHtml("```\n<b>x</b>\n```")).toBe("<pre><code>&lt;b&gt;x&lt;/b&gt;</code></pre>");
  });

  it("escapes HTML and keeps only safe links", () => {
    expect(markdownToHtml("<script>x</script>")).toBe("<p>&lt;script&gt;x&lt;/script&gt;</p>");
    expect(markdownToHtml("[site](https://example.com)")).toBe('<p><a href="https://example.com">site</a></p>');
    expect(markdownToHtml("[bad](javascript:alert(1))")).not.toContain("href");
  });

  it("tells HTML from Markdown and checks link schemes", () => {
    expect(looksLikeHtml("<p>hi</p>")).toBe(true);
    expect(looksLikeHtml("a < b and c > d")).toBe(false);
    expect(safeHref("mailto:a@b.c")).toBe("mailto:a@b.c");
    expect(safeHref(" javascript:alert(1)")).toBeNull();
  });
});
