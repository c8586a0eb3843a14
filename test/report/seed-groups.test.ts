import { describe, expect, it } from 'vitest';
import type { TrialRecord } from '../../src/store/store.js';
import type { LeaderboardRow } from '../../src/sweep/leaderboard.js';
import { groupSeeds, summarise, withoutSeed } from '../../src/sweep/seed-groups.js';

function row(loss: string, seed: number, value: number, peak = 100): LeaderboardRow {
  const trial: TrialRecord = {
    id: `${loss}-${seed}`, config: { train: { loss, seed, lr: 0.001 } }, trainer: 'builtin', state: 'completed', attempts: 1, createdAt: 0, updatedAt: 0,
  };
  return { rank: 0, trial, state: 'completed', attempt: 1, value, bestEpoch: 1, lastEpoch: 2, metrics: {}, test: null, peakBytes: peak, secondsPerEpoch: 1 };
}

describe('seed groups', () => {
  it('summarises finite values as mean, sample std and n', () => {
    expect(summarise([1, 2, 3, 4])).toEqual({ mean: 2.5, std: Math.sqrt(5 / 3), n: 4 });
    expect(summarise([2, Number.NaN])).toEqual({ mean: 2, std: Number.NaN, n: 1 });
    expect(summarise([]).n).toBe(0);
  });

  it('drops only the seed from a config', () => {
    const config = { train: { loss: 'ce', seed: 3 }, model: { hidden: 8 } };
    expect(withoutSeed(config)).toEqual({ train: { loss: 'ce' }, model: { hidden: 8 } });
    expect(config.train.seed).toBe(3);
  });

  it('groups trials that differ only by seed and ranks groups by their mean in the direction', () => {
    const rows = [row('ce', 1, 0.2), row('cce', 1, 0.5), row('ce', 2, 0.4), row('cce', 2, 0.3), row('bce', 1, Number.NaN)];
    const max = groupSeeds(rows, 'max');
    expect(max.map((g) => [g.rank, (g.config.train as { loss: string }).loss, g.value.n])).toEqual([[1, 'cce', 2], [2, 'ce', 2], [3, 'bce', 0]]);
    expect(max[0]?.value.mean).toBeCloseTo(0.4, 12);
    expect(max[0]?.value.std).toBeCloseTo(Math.SQRT2 * 0.1, 12);
    expect(max[0]?.seeds).toEqual([1, 2]);
    expect(groupSeeds(rows, 'min').map((g) => (g.config.train as { loss: string }).loss)).toEqual(['ce', 'cce', 'bce']);
  });
});
