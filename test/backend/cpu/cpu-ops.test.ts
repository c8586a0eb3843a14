/**
 * The CPU backend through the ops interface: the allocator's accounting, the loss entries against the
 * single-threaded reference, and two threads against one (same results, deterministic).
 */
import { describe, expect, it } from 'vitest';
import { CpuOps } from '../../../src/backend/cpu/cpu-ops.js';
import { referenceLoss } from '../../../src/backend/cpu/loss-reference.js';
import { VIEW_ALIGN_BYTES } from '../../../src/backend/memory-plan.js';
import { popularitySampler, uniformSampler } from '../../../src/backend/negatives.js';
import type { LossKind, LossParams, Ops } from '../../../src/backend/ops.js';
import { expectClose, randArray, rng } from '../../helpers/numeric.js';
import { useCpuOps } from '../../helpers/cpu-ops.js';

const one = useCpuOps(1);
const two = useCpuOps(2);

describe('CpuOps memory', () => {
  it('accounts live and peak bytes per group, views aligned', async () => {
    const ops = await CpuOps.create({ threads: 1 });
    const a = ops.allocGroup('a', [{ name: 'x', shape: [3], dtype: 'f32' }, { name: 'ids', shape: [2, 2], dtype: 'i32' }]);
    expect(a.plan.bytes).toBe(2 * VIEW_ALIGN_BYTES);
    const b = ops.allocGroup('b', [{ name: 'y', shape: [64], dtype: 'f32' }]);
    expect(ops.memory()).toEqual({ liveBytes: 3 * VIEW_ALIGN_BYTES, peakBytes: 3 * VIEW_ALIGN_BYTES });
    ops.freeGroup(b);
    expect(ops.memory()).toEqual({ liveBytes: 2 * VIEW_ALIGN_BYTES, peakBytes: 3 * VIEW_ALIGN_BYTES });
    ops.resetPeak();
    expect(ops.memory().peakBytes).toBe(2 * VIEW_ALIGN_BYTES);
    expect(() => ops.fill(b.get('y'), 0, 1)).toThrow(/freed group/);
    expect(() => ops.add(a.get('ids'), a.get('x'), a.get('x'), 3)).toThrow(/is i32, expected f32/);
    expect(() => ops.fill(a.get('x'), 0, 4)).toThrow(/holds 3 elements, needs 4/);
    expect(() => a.flat()).toThrow(/needs f32 views/);
    expect(() => ops.allocGroup('c', [{ name: 'w', shape: [2], dtype: 'bf16' }])).toThrow(/f32 and i32 only/);
    ops.close();
  });

  it('ce holds [N × V] logits in its workspace, cce does not', () => {
    const dims = { rows: 6400, items: 9724, hidden: 64 };
    const bytes = (kind: LossKind): number =>
      one().lossWorkspace({ kind, negatives: { count: 256, sampling: 'uniform', seed: 1, step: 0 } }, dims)
        .reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
    expect(bytes('ce')).toBe(6400 * 9724 * 4);
    expect(bytes('cce')).toBeLessThan(200_000);
    expect(bytes('ce-')).toBe(6400 * 256 * 4 + 6400 * 257 * 4);
    expect(bytes('cce-')).toBeLessThan(4_000);
  });
});

describe('CpuOps losses', () => {
  const N = 70, V = 301, d = 12, n = 9;
  // sce: 5 buckets of 13 rows and 40 items (odd, so the two threads split the buckets unevenly).
  const SCE = { buckets: 5, bucketRows: 13, bucketItems: 40, mix: true };
  const next = rng(8);
  const h = Float32Array.from(randArray(next, N * d));
  const table = Float32Array.from(randArray(next, (V + 1) * d));
  const targets = new Int32Array(N);
  for (let r = 0; r < N; r++) targets[r] = r % 5 === 1 ? 0 : 1 + Math.floor(next() * V);
  const counts = new Float64Array(V + 1);
  for (let i = 1; i <= V; i++) counts[i] = 1 + (i % 13);
  const pop = popularitySampler(counts);

  async function run(ops: Ops, kind: LossKind, sampling: 'uniform' | 'popularity'): Promise<{ loss: number; dH: Float32Array; dTable: Float32Array }> {
    const g = ops.allocGroup('io', [
      { name: 'h', shape: [N, d], dtype: 'f32' }, { name: 'table', shape: [V + 1, d], dtype: 'f32' },
      { name: 'targets', shape: [N], dtype: 'i32' }, { name: 'loss', shape: [1], dtype: 'f32' },
      { name: 'dH', shape: [N, d], dtype: 'f32' }, { name: 'dTable', shape: [V + 1, d], dtype: 'f32' },
      { name: 'prob', shape: [V], dtype: 'i32' }, { name: 'alias', shape: [V], dtype: 'i32' }, { name: 'logProb', shape: [V + 1], dtype: 'f32' },
    ]);
    ops.write(g.get('h'), h);
    ops.write(g.get('table'), table);
    ops.write(g.get('targets'), targets);
    ops.write(g.get('prob'), new Int32Array(pop.prob.buffer));
    ops.write(g.get('alias'), pop.alias);
    ops.write(g.get('logProb'), Float32Array.from(pop.logP, (v, i) => (i === 0 ? 0 : v)));
    ops.fill(g.get('dTable'), 0, (V + 1) * d);
    const params: LossParams = {
      kind, validRows: targets.filter((t) => t !== 0).length, gbceT: 0.75, sce: { ...SCE, seed: 5, step: 2 },
      negatives: { count: n, sampling, seed: 5, step: 2, popularity: { prob: g.get('prob'), alias: g.get('alias'), logProb: g.get('logProb') } },
    };
    const dims = { rows: N, items: V, hidden: d };
    const ws = ops.allocGroup('ws', ops.lossWorkspace(params, dims));
    ops.lossForward(g.get('loss'), ws, g.get('h'), g.get('table'), g.get('targets'), dims, params);
    ops.lossBackward(g.get('dH'), g.get('dTable'), ws, g.get('h'), g.get('table'), g.get('targets'), dims, params, 2);
    const out = { loss: (await ops.readF32(g.get('loss')))[0]!, dH: await ops.readF32(g.get('dH')), dTable: await ops.readF32(g.get('dTable')) };
    ops.freeGroup(ws);
    ops.freeGroup(g);
    return out;
  }

  for (const kind of ['ce', 'cce', 'ce-', 'cce-', 'bce', 'bce+', 'gbce', 'sce'] as const) {
    for (const sampling of kind === 'ce' || kind === 'cce' || kind === 'bce' || kind === 'sce' ? (['uniform'] as const) : (['uniform', 'popularity'] as const)) {
      it(`${kind} (${sampling}): one thread matches the reference, two threads match one`, async () => {
        const ref = referenceLoss({
          kind, h: Float64Array.from(h), table: Float64Array.from(table), targets, N, V, d,
          negatives: { count: n, sampler: sampling === 'uniform' ? uniformSampler(V) : pop, seed: 5, step: 2 }, gbceT: 0.75,
          sce: { ...SCE, seed: 5, step: 2 },
        });
        const a = await run(one(), kind, sampling);
        const b = await run(two(), kind, sampling);
        expect(a.loss).toBeCloseTo(ref.loss, 5);
        expectClose(a.dH, ref.dH.map((v) => 2 * v), 1e-5, 'dH vs reference');
        expectClose(a.dTable, ref.dTable.map((v) => 2 * v), 1e-5, 'dE vs reference');
        expect(b.loss).toBeCloseTo(a.loss, 6);
        expectClose(b.dH, a.dH, 1e-6, 'dH, 2 threads');
        expectClose(b.dTable, a.dTable, 1e-6, 'dE, 2 threads');
      });
    }
  }
});
