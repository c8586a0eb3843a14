/** An invalid configuration value, located by its key path (`train.batch_size`, `grid.loss[2]`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Dotted key path of the offending value, relative to the config root. */
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** Formats a value for an error message: `got "abc"`, `got 3`, `got [1,2]`. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  // JSON would say null for NaN and Infinity (YAML's .nan and .inf): name them.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const s = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
