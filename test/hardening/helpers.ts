import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planSlots } from '../../src/scheduler/devices.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { trainerArgv } from '../../src/scheduler/trainer-command.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { parseGridFile } from '../../src/sweep/grid-file.js';
import { planSweep, prepareRun } from '../../src/sweep/sweep-service.js';
import { dbIn, fakeGrid } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';

/** A directory holding the fake-trainer grid file `g.yaml` (sweep `g`). */
export function project(body: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'g.yaml'), fakeGrid('g', body));
  return dir;
}

/** Runs a fake-trainer grid through a real scheduler; the store is returned open (close it). */
export async function runSweep(body: string, parallel = 2): Promise<{ store: Store; db: string }> {
  const db = dbIn(tempDir());
  const grid = parseGridFile(fakeGrid('s', body), 's.yaml');
  const store = await openStore(db, 'write');
  const run = await prepareRun(store, await planSweep(grid, store));
  await new Scheduler({ store, dbPath: db, slots: planSlots([], { parallel }), limits: grid.limits, trainerArgv }).run(run.pending);
  return { store, db };
}

/** Each trial's state and last error, keyed by a config value that tells them apart. */
export async function outcomes(store: Store, key: (config: Readonly<Record<string, unknown>>) => string): Promise<Record<string, { state: string; error: string | null }>> {
  const errors = new Map((await store.listAttempts({})).map((a) => [a.trialId, a.error]));
  return Object.fromEntries((await store.listTrials()).map((t) => [key(t.config), { state: t.state, error: errors.get(t.id) ?? null }]));
}
