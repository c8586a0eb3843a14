/**
 * What the orchestrator costs: trials per second through the scheduler (spawn, claim, record, finish)
 * and epoch events per second recorded into runs.db, with the protocol-speaking test fixture as the
 * trainer (it trains nothing, so every second measured is orchestration and process start-up).
 *
 *   npx tsx scripts/bench-orchestrator.ts [--trials 60] [--parallel 2] [--epochs 3000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { planSlots } from '../src/scheduler/devices.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { trainerArgv } from '../src/scheduler/trainer-command.js';
import { openStore } from '../src/store/open-store.js';
import { parseGridFile } from '../src/sweep/grid-file.js';
import { planSweep, prepareRun } from '../src/sweep/sweep-service.js';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '60' }, parallel: { type: 'string', default: '2' }, epochs: { type: 'string', default: '3000' } } });
const trials = Number(values.trials);
const parallel = Number(values.parallel);
const epochs = Number(values.epochs);
const fixture = fileURLToPath(new URL('../test/fixtures/fake-trainer.mjs', import.meta.url));

/** Runs one sweep of the fixture; returns wall seconds, trials completed and epochs recorded. */
async function sweep(name: string, body: string, slots: number): Promise<{ seconds: number; completed: number; epochs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'gridrec-bench-'));
  try {
    const db = join(dir, 'runs.db');
    const grid = parseGridFile(`name: ${name}\ntrainer: {command: ${JSON.stringify([process.execPath, fixture])}}\n${body}`, `${name}.yaml`);
    const store = await openStore(db, 'write');
    const run = await prepareRun(store, await planSweep(grid, store));
    const t0 = performance.now();
    await new Scheduler({ store, dbPath: db, slots: planSlots([], { parallel: slots }), limits: grid.limits, trainerArgv }).run(run.pending);
    const seconds = (performance.now() - t0) / 1000;
    const completed = (await store.listTrials({ states: ['completed'] })).length;
    const recorded = (await store.listEpochs({})).length;
    await store.close();
    return { seconds, completed, epochs: recorded };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const keys = Array.from({ length: trials }, (_, i) => i).join(', ');
const many = await sweep('many', `fixture: {epochs: 1, epoch_ms: 0}\ngrid:\n  fixture.k: [${keys}]\n`, parallel);
console.log(`${many.completed} one-epoch trials at parallelism ${parallel}: ${many.seconds.toFixed(2)} s, ${(many.completed / many.seconds).toFixed(1)} trials/s, ${((1000 * many.seconds * parallel) / many.completed).toFixed(0)} ms per trial and slot`);
const long = await sweep('long', `fixture: {epochs: ${epochs}, epoch_ms: 0}\n`, 1);
console.log(`one trial of ${long.epochs} epochs (2 progress + 1 epoch event each): ${long.seconds.toFixed(2)} s, ${(long.epochs / long.seconds).toFixed(0)} epochs/s recorded`);
