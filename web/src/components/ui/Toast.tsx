import { createContext, useCallback, useContext, useState, type ReactNode } from "react";
import { useI18n } from "../../lib/i18n";

interface Toast { id: number; text: string; tone: "info" | "error" }
type Show = (text: string, tone?: Toast["tone"]) => void;

const ToastContext = createContext<Show>(() => {});
const TOAST_MS = 5000;
let nextId = 1;

/** Toasts are announced politely (errors assertively) and dismissible. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const dismiss = useCallback((id: number) => setToasts((all) => all.filter((toast) => toast.id !== id)), []);
  const show = useCallback<Show>((text, tone = "info") => {
    const id = nextId++;
    setToasts((all) => [...all.slice(-2), { id, text, tone }]);
    setTimeout(() => dismiss(id), TOAST_MS);
  }, [dismiss]);
  return (
    <ToastContext.Provider value={show}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((toast) => (
          <div key={toast.id} className={toast.tone === "error" ? "toast toast-error" : "toast"} role={toast.tone === "error" ? "alert" : "status"}>
            <span>{toast.text}</span>
            <button type="button" aria-label={t("app.close")} onClick={() => dismiss(toast.id)}>✕</button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

export function useToast() { return useContext(ToastContext); }
