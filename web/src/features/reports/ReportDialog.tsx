import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { Button, SelectField, TextArea, TextField, useToast } from "../../components/ui";
import { errorText, fieldErrors } from "../../lib/errors";
import { useI18n, type MessageKey } from "../../lib/i18n";
import { REPORT_TYPES, useFileReport, type TargetType } from "./api";
import "../../styles/pages.css";

export interface ReportTarget { type: TargetType; id: string; name: string }

const REASON_MIN = 10;
const REASON_MAX = 1000;

/**
 * Report a user, a study or a message. Any page can show it: the app hands a feature
 * `<ReportButton target={…} />` (or the dialog itself) without the feature importing this one.
 */
export function ReportDialog({ target, open, onClose }: { target: ReportTarget; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const file = useFileReport();
  const [type, setType] = useState<string>("SPAM");
  const [reason, setReason] = useState("");
  const [link, setLink] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const length = [...reason.trim()].length;
  const errors = fieldErrors(file.error);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (length < REASON_MIN || length > REASON_MAX) return;
    const evidence = link.trim() ? { urls: [link.trim()] } : undefined;
    file.mutate({ target_type: target.type, target_id: target.id, type, reason, ...(evidence ? { evidence } : {}) }, {
      onSuccess: () => { toast(t("reports.filed")); setReason(""); setLink(""); setSubmitted(false); onClose(); },
    });
  };

  return (
    <dialog ref={ref} className="dialog dialog-wide" aria-labelledby={titleId} onCancel={onClose} onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <div>
          <h2 id={titleId}>{t(`reports.title.${target.type}` as MessageKey)}</h2>
          <p className="muted small">{t("reports.target", { name: target.name })}</p>
        </div>
        <SelectField label={t("reports.type")} value={type} onChange={(event) => setType(event.target.value)} error={errors.type ?? null}>
          {REPORT_TYPES.map((value) => <option key={value} value={value}>{t(`reports.type.${value}` as MessageKey)}</option>)}
        </SelectField>
        <TextArea label={t("reports.reason")} value={reason} onChange={(event) => setReason(event.target.value)} rows={4} maxLength={REASON_MAX}
          hint={t("reports.reasonHint", { count: length, min: REASON_MIN, max: REASON_MAX })}
          error={errors.reason ?? (submitted && length < REASON_MIN ? t("reports.reasonShort", { min: REASON_MIN }) : null)} />
        <TextField label={t("reports.link")} type="url" value={link} onChange={(event) => setLink(event.target.value)} hint={t("reports.linkHint")} />
        {file.error && !Object.keys(errors).length && <p className="error-text" role="alert">{errorText(file.error, t)}</p>}
        <p className="muted small">{t("reports.privacy")}</p>
        <div className="dialog-actions">
          <Button variant="secondary" onClick={onClose}>{t("app.cancel")}</Button>
          <Button type="submit" variant="danger" busy={file.isPending}>{t("reports.submit")}</Button>
        </div>
      </form>
    </dialog>
  );
}

/** A button that opens the report dialog for `target`. */
export function ReportButton({ target, label }: { target: ReportTarget; label?: string }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button variant="ghost" size="s" onClick={() => setOpen(true)} aria-haspopup="dialog">
        <span aria-hidden="true">🚩</span> {label ?? t("reports.open")}
      </Button>
      <ReportDialog target={target} open={open} onClose={() => setOpen(false)} />
    </>
  );
}
