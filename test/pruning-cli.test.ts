import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { gridDone } from './helpers/cli.js';
import { dbIn, fakeGrid, integrity } from './helpers/fixture.js';
import { tempDir } from './helpers/tmp.js';

// η = 2, rungs at epochs 1, 2, 4; one slot, so the trials run in this order. Best so far at epoch e:
// score/2 + 0.01e. 0.3 and 0.2 stop at rung 0, 0.6 at rung 1 (behind 0.7); see pruning-sweep.test.ts.
const SCORES = [0.5, 0.3, 0.7, 0.6, 0.2, 0.8];
const BODY = `fixture: {epochs: 4, epoch_ms: 10}\npruner: {rule: asha, min_epochs: 1, reduction_factor: 2}\nconfigs:\n${SCORES.map((s) => `  - {fixture.score: ${s}}\n`).join('')}`;

describe('grid CLI with a pruner', () => {
  it('runs, lists pruned trials apart, counts and explains them; resume leaves them, --retry-pruned runs them to the end', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'g.yaml'), fakeGrid('g', BODY));
    const run = await gridDone(dir, 'run', 'g.yaml');
    expect(run.code).toBe(0); // pruning is not a failure
    expect(run.output).toMatch(/^pruner: asha \(min_epochs 1, reduction_factor 2\); judging from 0 stored epoch\(s\)$/m);
    expect(run.output).toMatch(/^pruned +\w+ #1 +fixture\.score=0\.6: asha rung 1 \(epoch 2\): ndcg@10 0\.32 \(best so far\) is not in the top 1 of the 3 trial\(s\) that reached it \(threshold 0\.37\)$/m);
    expect(run.output).toMatch(/sweep g: 6\/6 done \(3 completed, 3 pruned\)/);

    const board = await gridDone(dir, 'leaderboard');
    expect(board.output).toMatch(/^sweep g: 3 completed trial\(s\) by ndcg@10 \(max\)$/m);
    expect(board.output).toMatch(/^3 pruned trial\(s\), not ranked/m);
    expect(board.output).toMatch(/^\w{8}  0\.6 +0\.3200 +2  asha rung 1 +2 +0\.3700$/m);
    expect(board.output).toMatch(/^\w{8}  0\.3 +0\.1600 +1  asha rung 0 +1 +0\.2600$/m);
    const ranked = JSON.parse((await gridDone(dir, 'leaderboard', '--include-pruned', '--format', 'json')).output) as { state: string; config: { fixture: { score: number } } }[];
    expect(ranked.map((r) => [r.config.fixture.score, r.state])).toEqual([
      [0.8, 'completed'], [0.7, 'completed'], [0.6, 'pruned'], [0.5, 'completed'], [0.3, 'pruned'], [0.2, 'pruned'],
    ]);
    expect((await gridDone(dir, 'leaderboard', '--format', 'csv')).output.trim().split('\n')).toHaveLength(1 + 3);

    expect((await gridDone(dir, 'status')).output).toMatch(/^sweep +trials +pending +running +completed +pruned +failed .*\ng +6 +0 +0 +3 +3 +0 +0 +0 +0 +0\.4400 /m);
    const status = await gridDone(dir, 'status', 'g');
    expect(status.output).toMatch(/\npruned:\ntrial +epoch +why\n(\w{8} +[12] +asha rung [01] .*\n){3}/);

    const pruned = ranked.map((r) => r as unknown as { trial: string; state: string }).filter((r) => r.state === 'pruned');
    const shown = await gridDone(dir, 'show', pruned[0]!.trial.slice(0, 8), '--lines', '0');
    expect(shown.output).toMatch(/^state {4}pruned \(1 attempt\(s\)\)$/m);
    expect(shown.output).toMatch(/^pruned {3}by asha \(sweep g\) at rung 1 \(epoch 2\): ndcg@10 0\.3200 against the threshold 0\.3700 from 2 other trial\(s\)$/m);
    expect(shown.output).toMatch(/pruning decisions about attempt 1:\n +epoch +rule +action +value +threshold +compared +sweep\n +1 +asha rung 0 +continue +0\.3100 +0\.3100 +3 +g\n +2 +asha rung 1 +prune +0\.3200 +0\.3700 +2 +g\n/);
    const json = JSON.parse((await gridDone(dir, 'show', pruned[0]!.trial, '--format', 'json')).output) as { decisions: { action: string; compared: unknown[] }[] };
    expect(json.decisions.map((d) => [d.action, d.compared.length])).toEqual([['continue', 3], ['prune', 2]]);

    const resume = await gridDone(dir, 'resume', 'g');
    expect(resume.code).toBe(0);
    expect(resume.output).toMatch(/requeued none; 0 to run/);

    const retry = await gridDone(dir, 'resume', 'g', '--retry-pruned');
    expect(retry.code).toBe(0);
    expect(retry.output).toMatch(/requeued 3 pruned; 3 to run/);
    expect(retry.output).toMatch(/judging from 16 stored epoch\(s\)/);
    const store = await openStore(dbIn(dir), 'read');
    try {
      expect((await store.listTrials()).map((t) => t.state)).toEqual(Array(6).fill('completed'));
      const epochs = await store.listEpochs({});
      const retried = (await store.listTrials()).filter((t) => t.attempts === 2);
      expect(retried.map((t) => (t.config.fixture as { score: number }).score).sort()).toEqual([0.2, 0.3, 0.6]);
      for (const t of retried) {
        expect((await store.listAttempts({ trialId: t.id })).map((a) => a.state)).toEqual(['pruned', 'completed']);
        expect(epochs.filter((e) => e.trialId === t.id && e.attempt === 1).length).toBeGreaterThan(0); // the pruned attempt's rows stay
        expect(epochs.filter((e) => e.trialId === t.id && e.attempt === 2).map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
      }
      expect((await store.listDecisions({ sweep: 'g' })).filter((d) => d.attempt === 2)).toEqual([]); // retried trials are not judged again
    } finally {
      await store.close();
    }
    expect(integrity(dbIn(dir))).toBe('ok');
  });
});
