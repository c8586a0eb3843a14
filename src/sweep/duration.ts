/** Durations in grid files: "90s", "2h", "1h30m", "500ms", or a plain number of seconds. */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/** The longest duration accepted: 1000 days (longer limits are surely typing mistakes). */
export const MAX_DURATION_MS = 1000 * 86_400_000;

/**
 * Parses a duration into milliseconds; returns undefined when the value is not one (the caller names
 * the key in its error). Zero and negative durations are rejected (a limit of nothing is a mistake),
 * and so are durations over `MAX_DURATION_MS`.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 && value * 1000 <= MAX_DURATION_MS ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text));
  PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    end = PART.lastIndex;
  }
  return end === text.length && total > 0 && total <= MAX_DURATION_MS ? total : undefined;
}

/** Formats milliseconds the way grid files spell them ("1h30m", "90s", "250ms"). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000 && ms % 1000 !== 0) return `${Math.round(ms) / 1000}s`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
