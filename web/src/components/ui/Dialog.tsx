import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useI18n } from "../../lib/i18n";
import { Button } from "./Button";

interface ConfirmRequest { message: string; confirmLabel?: string; danger?: boolean; resolve: (ok: boolean) => void }

const ConfirmContext = createContext<(message: string, options?: { confirmLabel?: string; danger?: boolean }) => Promise<boolean>>(
  () => Promise.resolve(false));

/** The native <dialog>: modal focus trap, Escape to cancel, focus returns to the opener. */
export function ConfirmProvider({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  const confirm = useCallback((message: string, options?: { confirmLabel?: string; danger?: boolean }) =>
    new Promise<boolean>((resolve) => setRequest({ message, ...options, resolve })), []);
  useEffect(() => {
    const dialog = ref.current;
    if (request && dialog && !dialog.open) dialog.showModal();
  }, [request]);
  const finish = (ok: boolean) => {
    request?.resolve(ok);
    setRequest(null);
    ref.current?.close();
  };
  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      <dialog ref={ref} className="dialog" aria-labelledby="confirm-message" onCancel={() => finish(false)}>
        <p id="confirm-message">{request?.message}</p>
        <div className="dialog-actions">
          <Button variant="secondary" onClick={() => finish(false)}>{t("app.cancel")}</Button>
          <Button variant={request?.danger ? "danger" : "primary"} onClick={() => finish(true)}>
            {request?.confirmLabel ?? t("app.confirm")}
          </Button>
        </div>
      </dialog>
    </ConfirmContext.Provider>
  );
}

export function useConfirm() { return useContext(ConfirmContext); }
