export function Spinner({ label, decorative }: { label?: string; decorative?: boolean }) {
  if (decorative) return <span className="spinner" aria-hidden="true" />;
  return <span className="spinner" role="status" aria-label={label} />;
}
