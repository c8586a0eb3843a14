import { describe, expect, it } from 'vitest';
import { Pruner } from '../src/scheduler/pruner.js';
import { ashaKeep, ashaRule, ashaRung, median, medianRule, toScore } from '../src/scheduler/pruning-rules.js';
import type { EpochRecord, TrialRecord } from '../src/store/store.js';
import type { PrunerSpec } from '../src/sweep/pruner-spec.js';

describe('pruning rules', () => {
  it('median: of odd and even counts; prunes only what is strictly worse, after min_trials others', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NEGATIVE_INFINITY, 1])).toBe(Number.NEGATIVE_INFINITY);
    expect(medianRule(2, [1, 3, 5], 3)).toEqual({ prune: true, threshold: 3 });
    expect(medianRule(3, [1, 3, 5], 3)).toEqual({ prune: false, threshold: 3 }); // a tie continues
    expect(medianRule(0, [1, 3], 3)).toEqual({ prune: false, threshold: Number.NaN }); // too few others
    expect(medianRule(0, [], 0).prune).toBe(false);
  });

  it('scores: larger is better in both directions, no value is the worst', () => {
    expect(toScore(0.3, 'max')).toBe(0.3);
    expect(toScore(0.3, 'min')).toBe(-0.3);
    expect(toScore(Number.NaN, 'min')).toBe(Number.NEGATIVE_INFINITY);
  });

  it('asha: rungs at r·η^k only, the top ⌊n/η⌋ (at least one) continue, ties included', () => {
    expect([1, 2, 3, 4, 9, 27, 28].map((e) => ashaRung(e, 1, 3))).toEqual([0, null, 1, null, 2, 3, null]);
    expect([1, 2, 4, 6, 8].map((e) => ashaRung(e, 2, 2))).toEqual([null, 0, 1, null, 2]);
    expect([1, 2, 3, 5, 6, 8, 9].map((n) => ashaKeep(n, 3))).toEqual([1, 1, 1, 1, 2, 2, 3]);
    expect(ashaRule(0.5, [], 3)).toEqual({ prune: false, threshold: 0.5, keep: 1 });
    expect(ashaRule(0.4, [0.5], 2)).toEqual({ prune: true, threshold: 0.5, keep: 1 });
    expect(ashaRule(0.6, [0.5, 0.3, 0.7], 2)).toEqual({ prune: false, threshold: 0.6, keep: 2 });
    expect(ashaRule(0.5, [0.5, 0.7, 0.1], 2)).toEqual({ prune: false, threshold: 0.5, keep: 2 });
    expect(ashaRule(0.2, [0.5, 0.3, 0.7, 0.6], 2).prune).toBe(true);
  });
});

const trial = (id: string, config: Record<string, unknown> = {}): TrialRecord => ({ id, config, trainer: 'builtin', state: 'pending', attempts: 0, createdAt: 0, updatedAt: 0 });
const epoch = (trialId: string, attempt: number, e: number, ndcg: number, loss = 1): EpochRecord => ({
  trialId, attempt, epoch: e, trainLoss: loss, metrics: { 'ndcg@10': ndcg }, epochSeconds: 1, peakBytes: 1, tokensPerSecond: 1,
});
const seen = (ndcg: number, e: number, loss = 1) => ({ epoch: e, trainLoss: loss, metrics: { 'ndcg@10': ndcg } });
const objective = { metric: 'ndcg@10', direction: 'max' as const };
const median2: PrunerSpec = { rule: 'median', warmupEpochs: 1, minTrials: 2, groupBy: [] };

describe('Pruner', () => {
  it('judges against the epochs stored before it started, with the evidence of each decision', () => {
    const stored = [epoch('a', 1, 1, 0.1), epoch('a', 1, 2, 0.3), epoch('a', 1, 3, 0.2), epoch('b', 1, 1, 0.2), epoch('b', 1, 2, 0.25)];
    const p = Pruner.create({ sweep: 's', spec: median2, objective, trials: ['a', 'b', 'c'].map((id) => trial(id)), epochs: stored });
    expect(p?.epochsKnown).toBe(5);
    expect(p?.observe('c', 1, seen(0.01, 1))).toBeNull(); // warm-up
    const d = p?.observe('c', 1, seen(0.26, 2));
    expect(d).toMatchObject({
      trialId: 'c', attempt: 1, epoch: 2, sweep: 's', rule: 'median', action: 'prune', metric: 'ndcg@10', direction: 'max',
      value: 0.26, rung: null, group: {}, compared: [{ trialId: 'a', value: 0.3 }, { trialId: 'b', value: 0.25 }],
    });
    expect(d?.threshold).toBeCloseTo(0.275, 12);
    expect(d?.reason).toBe('median rule at epoch 2: ndcg@10 0.26 (best so far) is worse than the median 0.275 of 2 other trial(s)');
    // At epoch 3 only a reached it: too few to judge. Best so far, not the latest value, is compared.
    expect(p?.observe('c', 1, seen(0.1, 3))).toMatchObject({ action: 'continue', value: 0.26, compared: [{ trialId: 'a', value: 0.3 }] });
  });

  it('compares only within group_by groups, minimises loss, and never judges an exempt trial', () => {
    const trials = [trial('a', { train: { loss: 'ce' } }), trial('b', { train: { loss: 'bce' } }), trial('c', { train: { loss: 'ce' } }), trial('d', { train: { loss: 'ce' } })];
    const spec: PrunerSpec = { rule: 'asha', minEpochs: 1, reductionFactor: 2, groupBy: ['train.loss'] };
    const p = Pruner.create({ sweep: 's', spec, objective: { metric: 'loss', direction: 'min' }, trials, epochs: [epoch('a', 1, 1, 0, 2), epoch('b', 1, 1, 0, 0.5)], exempt: new Set(['d']) });
    // c (loss 1.5) meets only a (2.0) in its group: the best of two continues; b's 0.5 is another group's.
    expect(p?.observe('c', 1, seen(0, 1, 1.5))).toMatchObject({ action: 'continue', threshold: 1.5, group: { loss: 'ce' }, compared: [{ trialId: 'a', value: 2 }] });
    expect(p?.observe('d', 1, seen(0, 1, 9))).toBeNull();
    expect(p?.observe('a', 2, seen(0, 1, 3))?.action).toBe('prune'); // a's new attempt, against c and d
    expect(p?.observe('zz', 1, seen(0, 1))).toBeNull(); // not the sweep's
    expect(Pruner.create({ sweep: 's', spec: { rule: 'none' }, objective, trials, epochs: [] })).toBeNull();
  });

  it('merges a trial\'s attempts epoch by epoch, the latest winning', () => {
    const stored = [epoch('a', 1, 1, 0.5), epoch('a', 1, 2, 0.9), epoch('b', 1, 1, 0.4), epoch('b', 1, 2, 0.4)];
    const p = Pruner.create({ sweep: 's', spec: { ...median2, minTrials: 1 }, objective, trials: ['a', 'b', 'c'].map((id) => trial(id)), epochs: stored });
    p?.observe('a', 2, seen(0.1, 1));
    p?.observe('a', 2, seen(0.2, 2));
    // a's attempt 2 replaced its epochs 1 and 2: c is compared with 0.2 (not 0.9) and 0.4.
    const d = p?.observe('c', 1, seen(0.35, 2));
    expect(d).toMatchObject({ action: 'continue', compared: [{ trialId: 'a', value: 0.2 }, { trialId: 'b', value: 0.4 }] });
    expect(d?.threshold).toBeCloseTo(0.3, 12);
  });
});
