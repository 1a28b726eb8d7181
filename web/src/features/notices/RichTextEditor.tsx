import { useEffect, useId, useRef, type KeyboardEvent } from "react";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { safeHref, sanitizeHtml } from "./rich-text";

// Every button makes only whitelisted tags (COUP.md §7.8); what is pasted is cleaned on output.
const TOOLS: { key: string; label: MessageKey; text: string; run: () => void }[] = [
  { key: "bold", label: "notices.tool.bold", text: "B", run: () => document.execCommand("bold") },
  { key: "italic", label: "notices.tool.italic", text: "I", run: () => document.execCommand("italic") },
  { key: "underline", label: "notices.tool.underline", text: "U", run: () => document.execCommand("underline") },
  { key: "h2", label: "notices.tool.heading", text: "H", run: () => document.execCommand("formatBlock", false, "h2") },
  { key: "p", label: "notices.tool.paragraph", text: "¶", run: () => document.execCommand("formatBlock", false, "p") },
  { key: "ul", label: "notices.tool.bullets", text: "•", run: () => document.execCommand("insertUnorderedList") },
  { key: "ol", label: "notices.tool.numbers", text: "1.", run: () => document.execCommand("insertOrderedList") },
  { key: "quote", label: "notices.tool.quote", text: "❝", run: () => document.execCommand("formatBlock", false, "blockquote") },
  { key: "code", label: "notices.tool.code", text: "</>", run: () => document.execCommand("formatBlock", false, "pre") },
];

/** A contenteditable box with a toolbar; `onChange` gets the sanitised HTML. */
export function RichTextEditor({ label, initialHtml, onChange, error }: {
  label: string; initialHtml: string; onChange: (html: string) => void; error?: string | null;
}) {
  const { t } = useI18n();
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (box.current) box.current.innerHTML = sanitizeHtml(initialHtml);
    document.execCommand("defaultParagraphSeparator", false, "p");
  }, [initialHtml]);
  const emit = () => onChange(sanitizeHtml(box.current?.innerHTML ?? ""));
  const run = (action: () => void) => { box.current?.focus(); action(); emit(); };
  const addLink = () => {
    const href = safeHref(window.prompt(t("notices.tool.linkPrompt"), "https://"));
    if (href) run(() => document.execCommand("createLink", false, href));
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") { event.preventDefault(); addLink(); }
  };
  return (
    <div className="field">
      <span className="field-label" id={`${id}-label`}>{label}</span>
      <div className="rte" data-invalid={error ? true : undefined}>
        <div className="rte-toolbar" role="toolbar" aria-label={t("notices.tool.bar")} aria-controls={`${id}-box`}>
          {TOOLS.map((tool) => (
            <button key={tool.key} type="button" className="rte-btn" title={t(tool.label)} aria-label={t(tool.label)}
              onMouseDown={(event) => event.preventDefault()} onClick={() => run(tool.run)}>{tool.text}</button>
          ))}
          <button type="button" className="rte-btn" title={t("notices.tool.link")} aria-label={t("notices.tool.link")}
            onMouseDown={(event) => event.preventDefault()} onClick={addLink}>🔗</button>
        </div>
        <div ref={box} id={`${id}-box`} className="rte-box" contentEditable suppressContentEditableWarning role="textbox"
          aria-multiline="true" aria-labelledby={`${id}-label`} aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : `${id}-hint`} onInput={emit} onBlur={emit} onKeyDown={onKeyDown} />
      </div>
      <div className="field-hint" id={`${id}-hint`}>{t("notices.editorHint")}</div>
      {error && <p className="error-text" id={`${id}-error`} role="alert">{error}</p>}
    </div>
  );
}
