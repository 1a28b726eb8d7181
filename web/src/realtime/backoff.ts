// Reconnect delays: exponential with "equal jitter" (half fixed, half random), so a server
// restart does not bring every client back in the same millisecond.
export interface BackoffOptions { initialMs: number; maxMs: number; factor: number }

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 20_000, factor: 2 };

export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * options.factor ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
