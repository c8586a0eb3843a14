/** Trial ids name a data file by its content, and a sweep's objective reaches the built-in trainer. */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import { canonicalConfig, trialId } from '../../src/sweep/canonical.js';
import { expandGrid } from '../../src/sweep/expand.js';
import { loadGridFile, parseGridFile } from '../../src/sweep/grid-file.js';
import { planSweep, prepareRun } from '../../src/sweep/sweep-service.js';
import { gridDone } from '../helpers/cli.js';
import { fakeGrid } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';

describe('trial identity', () => {
  it('does not depend on where the project folder is: the same data file moved is the same trial', () => {
    const root = tempDir();
    const a = join(root, 'a');
    mkdirSync(join(a, 'data'), { recursive: true });
    writeFileSync(join(a, 'data', 'log.txt'), '1 10 20 30\n2 20 30 40\n');
    writeFileSync(join(a, 'g.yaml'), 'dataset: {path: data/log.txt, format: sequences}\ntrain: {loss: ce}\n');
    cpSync(a, join(root, 'moved'), { recursive: true });
    const before = expandGrid(loadGridFile(join(a, 'g.yaml'))).trials[0];
    const after = expandGrid(loadGridFile(join(root, 'moved', 'g.yaml'))).trials[0];
    expect(after?.id).toBe(before?.id);
    expect(after?.config.dataset).toMatchObject({ path: join(root, 'moved', 'data', 'log.txt') });
    // Another content is another trial.
    writeFileSync(join(root, 'moved', 'data', 'log.txt'), '1 10 20 30\n2 20 30 41\n');
    expect(expandGrid(loadGridFile(join(root, 'moved', 'g.yaml'))).trials[0]?.id).not.toBe(before?.id);
  });

  it('a stored trial takes the data file path of the latest run', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'x.txt'), '1 10 20 30\n');
    writeFileSync(join(root, 'y.txt'), '1 10 20 30\n');
    const store = await openStore(join(root, 'runs.db'), 'write');
    for (const file of ['x.txt', 'y.txt']) {
      const grid = parseGridFile(`dataset: {path: ${file}, format: sequences}\ntrain: {loss: ce}\n`, join(root, 'g.yaml'));
      expect((await prepareRun(store, await planSweep(grid, store))).added).toHaveLength(file === 'x.txt' ? 1 : 0);
    }
    expect((await store.listTrials()).map((t) => (t.config.dataset as { path: string }).path)).toEqual([join(root, 'y.txt')]);
    await store.close();
  });
});

describe("the sweep's objective", () => {
  it('becomes train.monitor of built-in trials, leaving ids of NDCG@10 sweeps as they were', () => {
    const ids = (objective: string): { id: string; monitor: unknown }[] =>
      expandGrid(parseGridFile(`dataset: ml-latest-small\ntrain: {loss: ce}\n${objective}`, 'g.yaml')).trials.map((t) => ({
        id: t.id,
        monitor: (t.config.train as { monitor?: unknown }).monitor,
      }));
    const plain = ids('');
    expect(plain[0]?.monitor).toBeUndefined();
    expect(ids('objective: {metric: ndcg@10}\n')).toEqual(plain);
    // The id of a default config is the plain hash of its canonical config, as before: stored trials keep theirs.
    expect(plain[0]?.id).toBe(trialId('builtin', canonicalConfig('builtin', { dataset: 'ml-latest-small', train: { loss: 'ce' } })));
    const byLoss = ids('objective: {metric: loss}\n');
    expect(byLoss[0]?.monitor).toBe('loss');
    expect(byLoss[0]?.id).not.toBe(plain[0]?.id);
  });

  it('a trainer that never reports the objective gets a warning', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'g.yaml'), fakeGrid('g', 'fixture: {epochs: 2, epoch_ms: 1, metric: recall@10}\nobjective: {metric: ndcg@10}\n'));
    const r = await gridDone(dir, 'run', 'g.yaml');
    expect(r.code).toBe(0);
    expect(r.output.match(/warning: trial \w+ reports no ndcg@10, the sweep's objective \(it reports recall@10, hr@10\)/g)).toHaveLength(1);
  });
});
