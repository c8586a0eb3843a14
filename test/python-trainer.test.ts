/**
 * The Python trainer module (python/gridrec_trainer.py) against the real orchestrator, with a stub
 * training function (test/fixtures/stub_trainer.py: no PyTorch): hello, epochs, result, error kinds,
 * heartbeats through a silent stretch, NaN as null, exit when fd 3 breaks. Needs python3 (CI has it).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findProgram } from '../src/scheduler/trainer-command.js';
import { dbIn } from './helpers/fixture.js';
import { gridDone } from './helpers/cli.js';
import { openStore } from '../src/store/open-store.js';
import { tempDir } from './helpers/tmp.js';

const STUB = fileURLToPath(new URL('./fixtures/stub_trainer.py', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/pytorch-sasrec/train_sasrec.py', import.meta.url));
const python = findProgram('python3');

describe.skipIf(python === undefined)('the Python trainer module', () => {
  it('speaks the protocol: epochs and result, each error kind, heartbeats through a silent stretch, a diverged loss', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'py.yaml'),
      `name: py\ntrainer: {command: [python3, ${JSON.stringify(STUB)}]}\nlimits: {max_attempts: 1, stall_timeout: 1s}\n` +
        'stub: {epochs: 3}\ngrid:\n  stub.mode: [finish, slow, invalid, oom, crash, diverge]\n',
    );
    const run = await gridDone(dir, 'run', 'py.yaml', '--parallel', '3');
    expect(run.code, run.output).toBe(1);
    const store = await openStore(dbIn(dir), 'read');
    try {
      const attempts = new Map((await store.listAttempts({})).map((a) => [a.trialId, a]));
      const byKey = Object.fromEntries(
        (await store.listTrials()).map((t) => {
          const a = attempts.get(t.id);
          return [(t.config.stub as { mode: string }).mode, { state: t.state, error: a?.error ?? null, trainer: a?.info?.trainer ?? null, result: a?.result ?? null, id: t.id }];
        }),
      );
      expect(byKey.finish).toMatchObject({ state: 'completed', trainer: 'stub', result: { best_epoch: 3, test: { 'ndcg@10': 0.25 }, peak_bytes: 3000 } });
      // 1.5 s without an event per epoch against a 1 s stall timeout: only the heartbeat thread keeps it alive.
      expect(byKey.slow).toMatchObject({ state: 'completed' });
      expect(byKey.invalid).toMatchObject({ state: 'failed', error: 'invalid_config: InvalidConfig: model.hidden: must be even, got 3' });
      expect(byKey.oom).toMatchObject({ state: 'oom', error: 'oom: MemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' });
      expect(byKey.crash).toMatchObject({ state: 'failed', error: 'internal: RuntimeError: boom' });
      expect(byKey.diverge).toMatchObject({ state: 'completed' });
      const diverged = (await store.listEpochs({ trialId: byKey.diverge?.id as string })).map((e) => e.trainLoss);
      expect(diverged).toEqual([4, 3, Number.NaN]);
    } finally {
      await store.close();
    }
  });

  it('exits at once when its event pipe breaks (the orchestrator is gone)', async () => {
    const dir = tempDir();
    const trialFile = join(dir, 'trial.json');
    writeFileSync(
      trialFile,
      JSON.stringify({ protocol: 1, trial_id: 'ab', attempt: 1, config: { stub: { mode: 'slow', sleep_s: 60 } }, device: { backend: 'cpu', ordinal: 0 }, workdir: dir, heartbeat_interval_s: 0.2 }),
    );
    const child = spawn(python as string, [STUB], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: { ...process.env, GRID_TRIAL: trialFile, GRID_EVENTS_FD: '3' } });
    const events = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    await new Promise<void>((resolve) => events.once('data', () => resolve()));
    const t0 = Date.now();
    events.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('the PyTorch example compiles', async () => {
    const r = await new Promise<number | null>((resolve) => {
      const c = spawn(python as string, ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', EXAMPLE], { stdio: 'inherit' });
      c.once('exit', resolve);
    });
    expect(r).toBe(0);
  });
});
