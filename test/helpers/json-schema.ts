/**
 * A small JSON Schema checker for the tests: the keywords schema/grid.schema.json uses, so example
 * grid files can be checked against the published schema without a validator dependency.
 */
type Schema = Record<string, unknown>;

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const isObj = (v: unknown): v is Record<string, unknown> => typeOf(v) === 'object';

/** The errors of `value` against `schema` (empty when valid); `root` resolves `#/$defs/...` refs. */
export function validate(value: unknown, schema: Schema, root: Schema = schema, at = '$'): string[] {
  const errors: string[] = [];
  const err = (m: string): void => void errors.push(`${at}: ${m}`);
  const sub = (v: unknown, s: unknown, where = at): string[] => validate(v, s as Schema, root, where);
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref.replace('#/', '').split('/').reduce<unknown>((o, k) => (o as Schema)[k], root);
    errors.push(...sub(value, target));
  }
  if (schema.type !== undefined) {
    const t = typeOf(value);
    const ok = (want: unknown): boolean => want === t || (want === 'integer' && Number.isInteger(value)) || (want === 'number' && t === 'number');
    if (!(Array.isArray(schema.type) ? schema.type.some(ok) : ok(schema.type))) err(`expected ${String(schema.type)}, got ${t}`);
  }
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const)) err(`expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) err(`not in enum ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) err(`does not match ${schema.pattern}`);
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) err('too short');
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) err(`below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) err(`above ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) err(`not above ${schema.exclusiveMinimum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) err('too few items');
    if (schema.items !== undefined) value.forEach((v, i) => errors.push(...sub(v, schema.items, `${at}[${i}]`)));
  }
  if (isObj(value)) {
    const props = (schema.properties ?? {}) as Schema;
    if (typeof schema.minProperties === 'number' && Object.keys(value).length < schema.minProperties) err('too few properties');
    for (const r of (schema.required ?? []) as string[]) if (!(r in value)) err(`missing ${r}`);
    for (const [k, v] of Object.entries(value)) {
      if (schema.propertyNames !== undefined) errors.push(...sub(k, schema.propertyNames, `${at}.${k} (name)`));
      if (k in props) errors.push(...sub(v, props[k], `${at}.${k}`));
      else if (schema.additionalProperties === false) err(`unknown property ${k}`);
      else if (isObj(schema.additionalProperties)) errors.push(...sub(v, schema.additionalProperties, `${at}.${k}`));
    }
  }
  const passes = (s: unknown): boolean => sub(value, s).length === 0;
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some(passes)) err('matches none of anyOf');
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter(passes).length !== 1) err('does not match exactly one of oneOf');
  if (schema.not !== undefined && passes(schema.not)) err('matches not');
  if (schema.if !== undefined && passes(schema.if) && schema.then !== undefined) errors.push(...sub(value, schema.then));
  return errors;
}
