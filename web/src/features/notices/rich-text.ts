// The notice whitelist (COUP.md §7.8), applied in the browser to what the server sends and to
// what the editor produces, and a small Markdown renderer for notices written as plain text.

export const ALLOWED_TAGS = new Set(["b", "i", "u", "em", "strong", "br", "p", "a", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "code", "pre"]);
const DROPPED_WITH_CONTENT = new Set(["script", "style", "iframe", "object", "embed", "template"]);
const SAFE_SCHEME = /^(https?:|mailto:)/i;

export function safeHref(href: string | null): string | null {
  const value = (href ?? "").trim();
  return SAFE_SCHEME.test(value) ? value : null;
}

/** Sanitise HTML to the whitelist: other tags are unwrapped, their text kept. Needs a DOM. */
export function sanitizeHtml(html: string): string {
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  const out = document.createElement("div");
  const copy = (source: Node, target: Node) => {
    source.childNodes.forEach((node) => {
      if (node.nodeType === Node.TEXT_NODE) { target.appendChild(document.createTextNode(node.textContent ?? "")); return; }
      if (node.nodeType !== Node.ELEMENT_NODE) return; // comments and the rest
      const element = node as Element;
      const tag = element.tagName.toLowerCase();
      if (DROPPED_WITH_CONTENT.has(tag)) return;
      if (tag === "div") { // the editor's paragraphs
        const p = document.createElement("p");
        copy(element, p);
        target.appendChild(p);
        return;
      }
      if (!ALLOWED_TAGS.has(tag)) { copy(element, target); return; }
      const clean = document.createElement(tag);
      if (tag === "a") {
        const href = safeHref(element.getAttribute("href"));
        if (href) clean.setAttribute("href", href);
        clean.setAttribute("target", "_blank");
        clean.setAttribute("rel", "noopener noreferrer");
      }
      copy(element, clean);
      target.appendChild(clean);
    });
  };
  copy(doc.body, out);
  return out.innerHTML;
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Does the text carry any whitelisted tag? Otherwise it is plain text or Markdown. */
export function looksLikeHtml(text: string): boolean {
  return /<\/?(b|i|u|em|strong|br|p|a|ul|ol|li|h[1-6]|blockquote|code|pre)(\s[^>]*)?\/?>/i.test(text);
}

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label: string, href: string) => {
      const safe = safeHref(href.replace(/&amp;/g, "&"));
      return safe ? `<a href="${escapeHtml(safe)}">${label}</a>` : whole;
    });
}

/** Markdown (headings, lists, quotes, code blocks, emphasis, links) to whitelisted HTML. */
export function markdownToHtml(markdown: string): string {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const html: string[] = [];
  let list: "ul" | "ol" | null = null;
  let paragraph: string[] = [];
  const flush = () => {
    if (paragraph.length) html.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
    paragraph = [];
  };
  const closeList = () => { if (list) html.push(`</${list}>`); list = null; };
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line.startsWith("```")) {
      flush(); closeList();
      const code: string[] = [];
      for (index += 1; index < lines.length && !lines[index]!.startsWith("```"); index += 1) code.push(lines[index]!);
      html.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    const quote = /^>\s?(.*)$/.exec(line);
    if (heading) { flush(); closeList(); html.push(`<h${heading[1]!.length}>${inline(heading[2]!)}</h${heading[1]!.length}>`); }
    else if (bullet || numbered) {
      flush();
      const kind = bullet ? "ul" : "ol";
      if (list !== kind) { closeList(); html.push(`<${kind}>`); list = kind; }
      html.push(`<li>${inline((bullet ?? numbered)![1]!)}</li>`);
    } else if (quote) { flush(); closeList(); html.push(`<blockquote>${inline(quote[1]!)}</blockquote>`); }
    else if (!line.trim()) { flush(); closeList(); }
    else { closeList(); paragraph.push(line); }
  }
  flush(); closeList();
  return html.join("");
}

/** What a notice's content shows as: its HTML, or its Markdown rendered; then the whitelist. */
export function noticeHtml(content: string): string {
  return sanitizeHtml(looksLikeHtml(content) ? content : markdownToHtml(content));
}
