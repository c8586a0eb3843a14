import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { gridDone } from '../helpers/cli.js';
import { dbIn, fakeGrid } from '../helpers/fixture.js';

/**
 * A finished sweep of the fake trainer for the report's tests: 3 losses × 3 batch sizes × 2 seeds
 * completed (4 epochs each, a planned peak), plus configs that run out of memory and that crash.
 */
export const REPORT_GRID = `fixture: {epochs: 4, epoch_ms: 1, planned_peak: 3000000}
grid:
  loss: [ce, cce, bce+]
seeds: [1, 2]
configs:
  - {train: {batch_size: 2}}
  - {train: {batch_size: 4}}
  - {train: {batch_size: 8}}
  - {fixture: {mode: oom}, train: {batch_size: 64}}
  - {fixture: {mode: crash}, train: {batch_size: 32}}
limits: {max_attempts: 1}
`;

/** Runs a grid (`REPORT_GRID` by default) as sweep `name` in `dir`; checks its summary line. */
export async function reportSweep(dir: string, name = 'demo', body = REPORT_GRID, done = /30\/30 done \(18 completed, 6 oom, 6 failed\)/): Promise<void> {
  writeFileSync(join(dir, `${name}.yaml`), fakeGrid(name, body));
  const run = await gridDone(dir, 'run', `${name}.yaml`, '--parallel', '2');
  expect(run.output).toMatch(done);
}

/** A temporary directory for a whole file of tests, removed after them. */
export function suiteDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gridrec-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Reads the store of `dir` read-only. */
export async function readStore<T>(dir: string, fn: (store: Store) => T | Promise<T>): Promise<T> {
  const store = await openStore(dbIn(dir), 'read');
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
