import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { pidAlive } from '../src/scheduler/stale.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { gridSchema } from '../src/sweep/grid-schema.js';
import { grid, gridDone } from './helpers/cli.js';
import { validate } from './helpers/json-schema.js';
import { dbIn, fakeGrid, integrity } from './helpers/fixture.js';
import { tempDir } from './helpers/tmp.js';

/** A directory holding the grid file `g.yaml`. */
function project(body: string, name = 'g'): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'g.yaml'), fakeGrid(name, body));
  return dir;
}

async function readStore<T>(dir: string, fn: (store: Store) => T | Promise<T>): Promise<T> {
  const store = await openStore(dbIn(dir), 'read');
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const countStates = async (store: Store): Promise<Record<string, number>> => {
  const out: Record<string, number> = {};
  for (const t of await store.listTrials()) out[t.state] = (out[t.state] ?? 0) + 1;
  return out;
};

describe('grid CLI end to end', () => {
  it('plans, runs, ranks and exports; the export runs as already done', async () => {
    const dir = project('fixture: {epochs: 2, epoch_ms: 2}\ngrid:\n  fixture.score: [0.1, 0.9, 0.5]\n  loss: [ce, ce-]\n  negatives: [8, 16]\n');
    const plan = await gridDone(dir, 'plan', 'g.yaml');
    expect(plan.code).toBe(0);
    expect(plan.output).toMatch(/12 point\(s\) → 9 trial\(s\) \(0 excluded, 3 collapsed\); 9 new, 0 already in runs\.db/);

    const run = await gridDone(dir, 'run', 'g.yaml', '--parallel', '3');
    expect(run.code).toBe(0);
    expect(run.output).toMatch(/9\/9 done \(9 completed\)/);
    expect(run.output).toMatch(/^best: trial [0-9a-f]{8} {2}ndcg@10 0\.\d+ \(epoch 2\) {2}fixture\.score=0\.9 /m);

    const board = await gridDone(dir, 'leaderboard', '--format', 'json', '--top', '2', '--where', 'loss=ce-');
    const rows = JSON.parse(board.output) as { rank: number; config: { fixture: { score: number }; train: { loss: string } } }[];
    expect(rows.map((r) => [r.rank, r.config.fixture.score, r.config.train.loss])).toEqual([[1, 0.9, 'ce-'], [2, 0.9, 'ce-']]);

    expect((await gridDone(dir, 'export', '--top', '3', '-o', 'best.yaml')).code).toBe(0);
    const exported = readFileSync(join(dir, 'best.yaml'), 'utf8');
    expect(exported).toMatch(/^name: g-best$/m);
    expect(validate(yaml.load(exported, { schema: yaml.CORE_SCHEMA }), gridSchema())).toEqual([]);
    const again = await gridDone(dir, 'run', 'best.yaml');
    expect(again.code).toBe(0);
    expect(again.output).toMatch(/sweep g-best: 3 trial\(s\), 0 new, 0 to run/);
    expect((await gridDone(dir, 'plan', 'best.yaml')).output).toMatch(/0 new, 3 already in runs\.db \(3 completed\)/);
    expect((await gridDone(dir, 'run', 'g.yaml')).output).toMatch(/9 trial\(s\) \(3 collapsed\), 0 new, 0 to run/);
    await readStore(dir, async (s) => expect(await s.listTrials()).toHaveLength(9));

    const csv = (await gridDone(dir, 'leaderboard', '--format', 'csv', '--metric', 'hr@10')).output.split('\n');
    expect(csv[0]).toBe('rank,trial,fixture.epoch_ms,fixture.epochs,fixture.score,train.loss,train.negatives,hr@10,best_epoch,last_epoch,test_hr@10,peak_bytes,seconds_per_epoch');
    expect(csv).toHaveLength(9 + 2); // header, 9 rows, final newline

    const top = rows[0] as unknown as { trial: string };
    const shown = await gridDone(dir, 'show', top.trial.slice(0, 6), '--lines', '1');
    expect(shown.output).toMatch(/^state {4}completed \(1 attempt\(s\)\)$/m);
    expect(shown.output).toMatch(/^sweeps {3}g, g-best$/m);
    expect(shown.output).toMatch(/epochs of attempt 1:\n {2}epoch +loss +hr@10 +ndcg@10/);
    expect(shown.output).toMatch(/fake trainer: trial \w+ attempt 1 mode finish\n$/);
    expect((await gridDone(dir, 'status')).output).toMatch(/^g +9 +0 +0 +9 +0 +0 +0 +0 +0 +0\.\d+ +ndcg@10 max$/m);

    const bad = await gridDone(dir, 'leaderboard', '--sweep', 'nope');
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.output).toMatch(/no sweep named "nope"/);
  });

  it('runs the built-in trainer end to end on a tiny model', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'tiny.yaml'),
      'dataset: ml-latest-small\nmodel: {hidden: 8, blocks: 1, max_seq_len: 10}\ntrain: {loss: cce-, batch_size: 256, negatives: 8, epochs: 2, patience: 2}\n',
    );
    const run = await gridDone(dir, 'run', 'tiny.yaml');
    expect(run.output).toMatch(/1\/1 done \(1 completed\)/);
    expect(run.code).toBe(0);
    await readStore(dir, async (s) => {
      const [attempt] = await s.listAttempts({});
      expect(attempt?.info).toMatchObject({ trainer: 'gridrec' });
      expect(attempt?.info?.plannedPeakBytes).toBeGreaterThan(0);
      expect(attempt?.result?.test['ndcg@10']).toBeGreaterThanOrEqual(0);
      expect((await s.listEpochs({})).map((e) => [e.epoch, typeof e.metrics['ndcg@10']])).toEqual([[1, 'number'], [2, 'number']]);
    });
  });

  it('plans with the memory each trainer predicts, training nothing', async () => {
    const dir = project('fixture: {mode: hang}\ngrid:\n  fixture.planned_peak: [1048576, 3145728]\n');
    const plan = await gridDone(dir, 'plan', 'g.yaml', '--memory', '--parallel', '2');
    expect(plan.code).toBe(0);
    expect(plan.output).toMatch(/planned peak\n(.*1\.0 MiB\n.*3\.0 MiB|.*3\.0 MiB\n.*1\.0 MiB)\n$/);
    expect(existsSync(dbIn(dir))).toBe(false);
  });

  it('runs each trial once when two orchestrators run the same sweep at the same time', async () => {
    const dir = project('fixture: {epochs: 2, epoch_ms: 30}\ngrid:\n  fixture.k: [1, 2, 3, 4, 5, 6, 7, 8]\n');
    const [a, b] = await Promise.all([gridDone(dir, 'run', 'g.yaml', '--parallel', '2'), gridDone(dir, 'run', 'g.yaml', '--parallel', '2')]);
    expect([a.code, b.code], `outputs:\n${a.output}\n---\n${b.output}`).toEqual([0, 0]);
    await readStore(dir, async (s) => {
      expect(await countStates(s)).toEqual({ completed: 8 });
      expect(await s.listAttempts({})).toHaveLength(8);
    });
    expect(integrity(dbIn(dir))).toBe('ok');
  });

  it('keeps running a sweep whose output reader went away', async () => {
    const dir = project('fixture: {epochs: 2, epoch_ms: 50}\ngrid:\n  fixture.k: [1, 2, 3]\n');
    const run = grid(dir, 'run', 'g.yaml');
    await run.waitFor(/running 3 trial/);
    run.child.stdout?.destroy(); // like `grid run … | head -2`
    expect(await run.exited).toBe(0);
    await readStore(dir, async (s) => expect(await countStates(s)).toEqual({ completed: 3 }));
  });

  it('reports a bad grid file with its name and key path and exits 2', async () => {
    const dir = project('grid:\n  loss: [ce, mse]\n');
    writeFileSync(join(dir, 'b.yaml'), 'dataset: ml-latest-small\ngrid:\n  loss: [ce, mse]\n');
    const r = await gridDone(dir, 'run', 'b.yaml');
    expect(r).toMatchObject({ code: 2 });
    expect(r.output).toBe('grid: b.yaml: grid.loss[1]: expected one of ce, ce-, cce, cce-, bce, bce+, gbce, sce, got "mse"\n');
  });

  it('Ctrl-C once lets running trials finish and starts no more', async () => {
    const dir = project('fixture: {epochs: 3, epoch_ms: 300}\ngrid:\n  fixture.k: [1, 2, 3, 4, 5, 6]\n');
    const run = grid(dir, 'run', 'g.yaml', '--parallel', '2');
    await run.waitFor(/epoch {5}\w+ 1 /);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.output()).toMatch(/Ctrl-C: no new trials will start; waiting for 2 running to finish/);
    await readStore(dir, async (s) => expect(await countStates(s)).toEqual({ completed: 2, pending: 4 }));
    expect(integrity(dbIn(dir))).toBe('ok');
  });

  it('Ctrl-C twice kills the running trials, marks them interrupted, and resume finishes the sweep', async () => {
    const dir = project('fixture: {epochs: 10, epoch_ms: 100}\ngrid:\n  fixture.k: [1, 2, 3, 4]\n');
    const run = grid(dir, 'run', 'g.yaml', '--parallel', '2');
    await run.waitFor(/epoch {5}\w+ 1 /);
    run.child.kill('SIGINT');
    await run.waitFor(/Ctrl-C: no new trials/);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    const children = await readStore(dir, async (s) => {
      expect(await countStates(s)).toEqual({ interrupted: 2, pending: 2 });
      return (await s.listAttempts({})).map((a) => a.childPid as number);
    });
    expect(children.filter(pidAlive)).toEqual([]);
    expect(integrity(dbIn(dir))).toBe('ok');

    const resume = await gridDone(dir, 'resume', 'g', '--parallel', '2');
    expect(resume.code).toBe(0);
    expect(resume.output).toMatch(/requeued 2 interrupted; 4 to run/);
    await readStore(dir, async (s) => {
      expect(await countStates(s)).toEqual({ completed: 4 });
      expect((await s.listTrials()).map((t) => t.attempts).sort()).toEqual([1, 1, 2, 2]);
    });
  });

  it('survives SIGKILL of the orchestrator: resume completes every trial exactly once, no epoch lost or doubled', async () => {
    const dir = project('fixture: {epochs: 3, epoch_ms: 120}\ngrid:\n  fixture.k: [1, 2, 3, 4, 5, 6, 7, 8]\n');
    const run = grid(dir, 'run', 'g.yaml', '--parallel', '3');
    await run.waitFor(/completed \w+ #1[\s\S]*epoch {5}\w+ 2 /);
    run.child.kill('SIGKILL');
    await run.exited;
    const orphans = await readStore(dir, async (s) => (await s.runningAttempts()).map((a) => a.childPid as number));
    expect(orphans.length).toBeGreaterThan(0);
    expect((await gridDone(dir, 'run', 'g.yaml')).output).toMatch(new RegExp(`${orphans.length} trial\\(s\\) interrupted, failed or left running by a dead orchestrator`));

    const resume = await gridDone(dir, 'resume', '--parallel', '3');
    expect(resume.code).toBe(0);
    expect(resume.output).toMatch(new RegExp(`${orphans.length} stale running trial\\(s\\) reclaimed`));
    expect(orphans.filter(pidAlive)).toEqual([]);
    await readStore(dir, async (s) => {
      expect(await countStates(s)).toEqual({ completed: 8 });
      const attempts = await s.listAttempts({});
      const completed = attempts.filter((a) => a.state === 'completed');
      expect(new Set(completed.map((a) => a.trialId)).size).toBe(8);
      expect(completed).toHaveLength(8);
      expect(attempts.filter((a) => a.state === 'interrupted')).toHaveLength(orphans.length);
      const epochs = await s.listEpochs({});
      for (const a of completed) {
        expect(epochs.filter((e) => e.trialId === a.trialId && e.attempt === a.attempt).map((e) => e.epoch)).toEqual([1, 2, 3]);
      }
      const keys = epochs.map((e) => `${e.trialId}/${e.attempt}/${e.epoch}`);
      expect(new Set(keys).size).toBe(keys.length);
    });
    expect(integrity(dbIn(dir))).toBe('ok');
  });

  it('serves leaderboard and status to readers looping while a sweep writes', async () => {
    const dir = project('fixture: {epochs: 4, epoch_ms: 20}\ngrid:\n  fixture.k: [1, 2, 3, 4, 5]\n  batch_size: [1, 2, 3, 4]\n');
    const run = grid(dir, 'run', 'g.yaml', '--parallel', '4');
    await run.waitFor(/start/);
    let done = false;
    void run.exited.then(() => (done = true));
    const failures: string[] = [];
    let reads = 0;
    while (!done) {
      for (const args of [['leaderboard', '--format', 'json'], ['status', 'g']]) {
        const r = await gridDone(dir, ...args);
        reads++;
        if (r.code !== 0) failures.push(r.output);
      }
    }
    expect(await run.exited).toBe(0);
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThanOrEqual(2);
    await readStore(dir, async (s) => expect(await countStates(s)).toEqual({ completed: 20 }));
    expect(integrity(dbIn(dir))).toBe('ok');
  });
});
