/** Test helpers: temporary files and Sequences as plain arrays. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { EvalSet, Sequences } from '../../src/data/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gridrec-data-'));
  dirs.push(d);
  return d;
}

/** Writes `content` to `name` in a fresh temporary directory; returns its path. */
export function tempFile(name: string, content: string | Buffer): string {
  const p = join(tempDir(), name);
  writeFileSync(p, content);
  return p;
}

/** CSR rows as arrays. */
export function rows(seq: Sequences): number[][] {
  const out: number[][] = [];
  for (let r = 0; r + 1 < seq.offsets.length; r++) out.push(Array.from(seq.items.subarray(seq.offsets[r]!, seq.offsets[r + 1]!)));
  return out;
}

/** An EvalSet as [input, target] pairs. */
export function evalRows(set: EvalSet): [number[], number][] {
  return rows(set.inputs).map((input, r) => [input, set.targets[r]!]);
}
