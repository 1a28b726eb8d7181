// The calendar's month view as plain date strings ("YYYY-MM-DD"), weeks starting on Sunday.

export interface GridDay { date: string; inMonth: boolean }

const pad = (value: number) => String(value).padStart(2, "0");

export function isoDate(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** "YYYY-MM" of the month `delta` months after `month`. */
export function shiftMonth(month: string, delta: number): string {
  const [year, mon] = month.split("-").map(Number) as [number, number];
  const date = new Date(Date.UTC(year, mon - 1 + delta, 1));
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}`;
}

/** Whole weeks covering the month, 4 to 6 rows of 7 days. */
export function monthGrid(month: string): GridDay[][] {
  const [year, mon] = month.split("-").map(Number) as [number, number];
  const first = new Date(Date.UTC(year, mon - 1, 1));
  const daysInMonth = new Date(Date.UTC(year, mon, 0)).getUTCDate();
  const lead = first.getUTCDay();
  const cells = Math.ceil((lead + daysInMonth) / 7) * 7;
  const weeks: GridDay[][] = [];
  for (let index = 0; index < cells; index += 1) {
    const day = index - lead + 1;
    if (index % 7 === 0) weeks.push([]);
    weeks[weeks.length - 1]!.push({ date: isoDate(year, mon, day), inMonth: day >= 1 && day <= daysInMonth });
  }
  return weeks;
}

export interface TimedEvent { id: string; title: string; date: string; start_time: string; end_time: string }

/** Events on the same date whose times overlap [start, end) (the server warns about the same). */
export function overlapping<T extends TimedEvent>(events: T[], date: string, start: string, end: string, exceptId?: string): T[] {
  if (!(start < end)) return [];
  return events.filter((event) => event.id !== exceptId && event.date === date
    && event.start_time < end && start < event.end_time);
}

function luminance(hex: string): number {
  const channel = (index: number) => {
    const value = parseInt(hex.slice(index, index + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** Black or white, whichever reads better on an event's colour (WCAG contrast ratio). */
export function readableText(background: string): "#000000" | "#ffffff" {
  if (!/^#[0-9a-fA-F]{6}$/.test(background)) return "#ffffff";
  const light = luminance(background);
  return (light + 0.05) / 0.05 >= 1.05 / (light + 0.05) ? "#000000" : "#ffffff";
}
