/**
 * Validation against the published JSON Schema with Ajv (draft 2020-12), the validator editors and CI
 * tools use, so the tests judge the schema as its users' tools will.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Schema = Record<string, unknown>;

const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
/** Compiled validators by schema text (compiling the grid schema takes milliseconds, tests call it often). */
const compiled = new Map<string, ValidateFunction>();

/**
 * The errors of `value` against `schema`, one line each (`/model/heads: must be >= 1`); empty when valid.
 * Strict, except where the grid schema's `if` names a property its branch does not define
 * (strictRequired) and where keywords of several types share a schema (strictTypes).
 */
export function validate(value: unknown, schema: Schema): string[] {
  const key = JSON.stringify(schema);
  let check = compiled.get(key);
  if (check === undefined) {
    check = ajv.compile(schema);
    compiled.set(key, check);
  }
  if (check(value)) return [];
  return (check.errors ?? []).map((e) => {
    // A bad key is in the params (propertyNames, additionalProperties), not in the path.
    const params = e.params as { propertyName?: string; additionalProperty?: string };
    const key = params.propertyName ?? params.additionalProperty;
    return `${e.instancePath === '' ? '/' : e.instancePath}: ${e.message ?? e.keyword}${key === undefined ? '' : ` (${key})`}`;
  });
}
