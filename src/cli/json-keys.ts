/** The keys of `grid`'s JSON output: snake_case everywhere, as in the trainer protocol and grid files. */

/** `trainUsers` → `train_users`, `p25` → `p25`. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A copy of a plain value with every object key in snake_case. Only for values whose keys are our own
 * field names: user data (a trial's config, a metrics map) keeps its keys and must not pass through.
 */
export function snakeCaseKeys(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeCase(k), snakeValue(v)]));
}

function snakeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeValue);
  return typeof value === 'object' && value !== null ? snakeCaseKeys(value) : value;
}
