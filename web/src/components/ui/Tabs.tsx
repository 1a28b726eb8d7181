import { useRef, type KeyboardEvent } from "react";

export interface TabItem<K extends string> { key: K; label: string; badge?: number }

/** WAI-ARIA tabs: arrow keys move between tabs, the selected one is the only tab stop. */
export function Tabs<K extends string>({ label, items, selected, onSelect, controls }: {
  label: string; items: TabItem<K>[]; selected: K; onSelect: (key: K) => void; controls?: string;
}) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const onKeyDown = (event: KeyboardEvent, index: number) => {
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = (index + step + items.length) % items.length;
    refs.current[next]?.focus();
    onSelect(items[next]!.key);
  };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {items.map((item, index) => (
        <button key={item.key} ref={(node) => { refs.current[index] = node; }} role="tab" type="button" className="tab"
          aria-selected={item.key === selected} aria-controls={controls} tabIndex={item.key === selected ? 0 : -1}
          onClick={() => onSelect(item.key)} onKeyDown={(event) => onKeyDown(event, index)}>
          {item.label}{item.badge ? <span className="badge badge-primary">{item.badge}</span> : null}
        </button>
      ))}
    </div>
  );
}
