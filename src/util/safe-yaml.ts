/**
 * YAML from people and their files, loaded with a bound on its size. YAML aliases let a few hundred
 * bytes stand for billions of values (`&a [*a, *a, …]` nested): js-yaml shares the aliased nodes,
 * but every walk over the document (checking, cloning, hashing, storing) expands them. The loaded
 * document is counted as if expanded, and refused past `MAX_YAML_VALUES`.
 */
import yaml from 'js-yaml';

/** The most values (scalars, lists and maps, aliases counted as often as they are used) a document may hold. */
export const MAX_YAML_VALUES = 100_000;

/** Why a YAML text was refused, with the line and column where YAML knows them. */
export class YamlError extends Error {
  override readonly name = 'YamlError';
  /** `line L, column C`, or `(document)` for a problem of the whole document. */
  readonly where: string;
  readonly reason: string;

  constructor(where: string, reason: string) {
    super(`${where}: ${reason}`);
    this.where = where;
    this.reason = reason;
  }
}

/** Loads one YAML document; throws `YamlError` for bad syntax, several documents, or too many values. */
export function loadYaml(text: string, options: yaml.LoadOptions = {}): unknown {
  let doc: unknown;
  try {
    doc = yaml.load(text, options);
  } catch (err) {
    if (!(err instanceof yaml.YAMLException)) throw err;
    // Some errors (a second document in the stream) carry no position.
    const mark = err.mark as yaml.YAMLException['mark'] | undefined;
    throw new YamlError(mark === undefined ? '(document)' : `line ${mark.line + 1}, column ${mark.column + 1}`, err.reason || err.message);
  }
  checkSize(doc);
  return doc;
}

/** Counts the values of a document as if its aliases were expanded, stopping at the limit (so it is fast even then). */
function checkSize(doc: unknown): void {
  const stack: unknown[] = [doc];
  for (let seen = 0; stack.length > 0; ) {
    const v = stack.pop();
    if (++seen > MAX_YAML_VALUES) {
      throw new YamlError('(document)', `holds more than ${MAX_YAML_VALUES} values once its aliases (*name) are expanded; refusing to expand it`);
    }
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) stack.push(x);
  }
}
