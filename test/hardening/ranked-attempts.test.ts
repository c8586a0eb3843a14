import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { ENGINES } from '../helpers/stores.js';

const claim = { host: 'h', pid: process.pid, device: { backend: 'cpu' as const, ordinal: 0 }, heartbeatIntervalS: 5 };

/** A store whose trial `id` has one attempt per entry of `attempts`: its end state and epochs' (ndcg, loss). */
async function withAttempts(store: Store, id: string, attempts: { state: 'completed' | 'failed'; epochs: [number | null, number][] }[]): Promise<void> {
  await store.saveSweep({ name: 's', file: null, document: {}, objective: { metric: 'ndcg@10', direction: 'max' } }, [{ id, config: {}, trainer: 'builtin' }]);
  for (const a of attempts) {
    await store.requeue(id, ['failed']);
    const n = await store.claim(id, claim) as number;
    for (const [i, [ndcg, loss]] of a.epochs.entries()) {
      await store.recordEpoch({ trialId: id, attempt: n, epoch: i + 1, trainLoss: loss, metrics: ndcg === null ? {} : { 'ndcg@10': ndcg }, epochSeconds: i + 1, peakBytes: 10 * (i + 1), tokensPerSecond: 1 });
    }
    await store.finishAttempt(id, n, { state: a.state, result: a.state === 'completed' ? { best_epoch: 1, test: { 'ndcg@10': 0.5 }, validation: {}, peak_bytes: 5, mean_epoch_seconds: 1, total_seconds: 1 } : null });
  }
}

describe.each(ENGINES)('Store.rankedAttempts (the SQL summary the read commands rank from) ($name)', (engine) => {
  it('takes the latest completed attempt, its best epoch (ties: the earliest; missing values skipped), last epoch, peak and mean seconds', async (ctx) => {
    const store = await openStore(await engine.fresh(ctx), 'write');
    await withAttempts(store, 't', [
      { state: 'failed', epochs: [[0.9, 1]] },
      { state: 'completed', epochs: [[0.2, 3], [null, 0.5], [0.4, 2], [0.4, 1], [0.1, 4]] },
    ]);
    const [max] = await store.rankedAttempts({}, 'ndcg@10', 'max');
    expect(max).toMatchObject({ trialId: 't', attempt: 2, lastEpoch: 5, peakBytes: 50, secondsPerEpoch: 3, metricNames: ['ndcg@10'] });
    expect(max?.best).toMatchObject({ epoch: 3, metrics: { 'ndcg@10': 0.4 }, trainLoss: 2 });
    expect((await store.rankedAttempts({}, 'ndcg@10', 'min'))[0]?.best?.epoch).toBe(5);
    expect((await store.rankedAttempts({}, 'loss', 'min'))[0]?.best?.epoch).toBe(2);
    expect((await store.rankedAttempts({}, 'hr@10', 'max'))[0]?.best).toBeNull();
    expect(await store.rankedAttempts({ sweep: 'other' }, 'ndcg@10', 'max')).toEqual([]);
    expect(await store.countByState('s')).toEqual({ completed: 1 });
    await store.close();
  });
});
