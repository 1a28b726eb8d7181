import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

interface FieldChrome { label: string; hint?: ReactNode; error?: string | null }

function describedBy(id: string, hint: unknown, error: unknown): string | undefined {
  return [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ") || undefined;
}

function Chrome({ id, label, hint, error, children }: FieldChrome & { id: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <div className="field-hint" id={`${id}-hint`}>{hint}</div>}
      {error && <p className="error-text" id={`${id}-error`} role="alert">{error}</p>}
    </div>
  );
}

export function TextField({ label, hint, error, id, ...rest }: FieldChrome & InputHTMLAttributes<HTMLInputElement>) {
  const auto = useId();
  const fieldId = id ?? auto;
  return (
    <Chrome id={fieldId} label={label} hint={hint} error={error}>
      <input id={fieldId} aria-invalid={error ? true : undefined} aria-describedby={describedBy(fieldId, hint, error)} {...rest} />
    </Chrome>
  );
}

export function TextArea({ label, hint, error, id, ...rest }: FieldChrome & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const auto = useId();
  const fieldId = id ?? auto;
  return (
    <Chrome id={fieldId} label={label} hint={hint} error={error}>
      <textarea id={fieldId} aria-invalid={error ? true : undefined} aria-describedby={describedBy(fieldId, hint, error)} {...rest} />
    </Chrome>
  );
}

export function SelectField({ label, hint, error, id, children, ...rest }: FieldChrome & SelectHTMLAttributes<HTMLSelectElement>) {
  const auto = useId();
  const fieldId = id ?? auto;
  return (
    <Chrome id={fieldId} label={label} hint={hint} error={error}>
      <select id={fieldId} aria-describedby={describedBy(fieldId, hint, error)} {...rest}>{children}</select>
    </Chrome>
  );
}

export function Checkbox({ label, ...rest }: { label: string } & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <label className="checkbox"><input type="checkbox" {...rest} /> {label}</label>
  );
}
