import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * The layers, top to bottom: a module may import its own layer's modules and those below, never
 * above (README, "Layout"); util/ is below everything.
 */
const LAYER: Readonly<Record<string, number>> = {
  cli: 0,
  sweep: 1, store: 1, scheduler: 1, report: 1,
  trainer: 2,
  model: 3, losses: 3, metrics: 3, data: 3,
  backend: 4,
  cuda: 5,
  util: 6,
};

/** Every .ts file under src/, relative to it. */
function sources(dir = src): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(src, join(dir, e.name))] : [],
  );
}

/** The relative imports and re-exports of a file, resolved against src/ (type-only ones included). */
function imports(file: string): string[] {
  const text = readFileSync(join(src, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.\.?\/[^']+)'/gms)].map((m) => normalize(join(dirname(file), m[1] as string)));
}

describe('layers', () => {
  it('every import points to the same layer or down', () => {
    const upward: string[] = [];
    for (const file of sources()) {
      const from = file.split('/')[0] as string;
      for (const target of imports(file)) {
        const to = target.split('/')[0] as string;
        if (to !== from && (LAYER[to] ?? -1) < (LAYER[from] ?? -1)) upward.push(`${file} -> ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('knows every top-level folder of src/', () => {
    const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => !(f in LAYER))).toEqual([]);
  });

  it('names the protocol\'s environment variables in trainer/protocol.ts only', () => {
    const names = ['GRID_TRIAL', 'GRID_EVENTS_FD', 'GRID_CPU_THREADS', 'CUDA_VISIBLE_DEVICES'];
    const restated = sources()
      .filter((f) => f !== 'trainer/protocol.ts')
      .flatMap((f) => {
        // Comments may mention them; code may not spell them.
        const code = readFileSync(join(src, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
        return names.filter((n) => new RegExp(`['"\`]${n}['"\`]|\\.${n}\\b|\\b${n}:`).test(code)).map((n) => `${f}: ${n}`);
      });
    expect(restated).toEqual([]);
  });
});
