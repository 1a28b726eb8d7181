import type { ButtonHTMLAttributes } from "react";
import { Spinner } from "./Spinner";

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: "primary" | "secondary" | "ghost" | "danger";
  size?: "m" | "s";
  block?: boolean;
  busy?: boolean;
}

export function Button({ variant = "primary", size = "m", block, busy, className, children, disabled, type = "button", ...rest }: ButtonProps) {
  const classes = ["btn", `btn-${variant}`, size === "s" && "btn-s", block && "btn-block", className].filter(Boolean).join(" ");
  return (
    <button type={type} className={classes} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {busy && <Spinner decorative />}
      {children}
    </button>
  );
}
