// The password policy of COUP.md §5.4, checked as the person types (the server decides).
export type RuleKey = "length" | "classes" | "common" | "email" | "strength";

const COMMON_PREFIXES = ["123456", "password", "qwerty", "abc123", "admin"];

export function characterClasses(password: string): number {
  return [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((pattern) => pattern.test(password)).length;
}

export function hasCommonPattern(password: string): boolean {
  const lower = password.toLowerCase();
  return COMMON_PREFIXES.some((prefix) => lower.startsWith(prefix)) || /(.)\1\1/u.test(password);
}

export function strengthScore(password: string): number {
  const length = [...password].length;
  const classes = characterClasses(password);
  return (length >= 8 ? 1 : 0) + (length >= 12 ? 1 : 0) + (classes >= 3 ? 1 : 0) + (classes >= 4 ? 1 : 0)
    - (hasCommonPattern(password) ? 1 : 0);
}

export function passwordRules(password: string, email: string, minLength = 8): Record<RuleKey, boolean> {
  const length = [...password].length;
  return {
    length: length >= minLength && length <= 128,
    classes: characterClasses(password) >= 2,
    common: password.length > 0 && !hasCommonPattern(password),
    email: password.length > 0 && password.toLowerCase() !== email.trim().toLowerCase(),
    strength: strengthScore(password) >= 2,
  };
}

export function passwordAcceptable(password: string, email: string): boolean {
  return Object.values(passwordRules(password, email)).every(Boolean);
}
