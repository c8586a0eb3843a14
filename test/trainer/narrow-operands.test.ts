/**
 * Narrow operand copies (Ops.narrowOperands: the parameters' narrow mirror that Adam rewrites, the layer
 * norms' copies of x, ln1 and ln2) change which tensors the GEMMs read, never what they multiply. On the
 * CPU the narrow dtype is f32, so a trial with them must train, restore its best epoch and test bit for
 * bit as one without: a copy that is stale (not rewritten after a step or a restore) or missing shows.
 */
import { describe, expect, it } from 'vitest';
import type { Ops } from '../../src/backend/ops.js';
import { trainBatches } from '../../src/data/batches.js';
import { resolveTrialConfig, type TrialConfig } from '../../src/trainer/config.js';
import { MemoryEventSink } from '../../src/trainer/events.js';
import type { EpochEvent } from '../../src/trainer/protocol.js';
import { openTrial, planTrial, prepareTrial } from '../../src/trainer/train-loop.js';
import { withNarrowOperands } from '../helpers/override-ops.js';
import { useTrialBench } from '../helpers/synthetic-trial.js';

const bench = useTrialBench(
  'gridrec-narrow-',
  { users: 90, items: 30, interactions: 1100, sequential: 0.5, successors: 2, format: 'sequences', seed: 5 },
  () => config().dataset,
);

function config(model: 'sasrec' | 'bert4rec' = 'sasrec'): TrialConfig {
  return resolveTrialConfig({
    dataset: { path: bench.file, format: 'sequences', min_item_count: 1, min_user_count: 3 },
    model: { name: model, hidden: 8, blocks: 2, heads: 2, max_seq_len: 8, dropout: 0.2 },
    train: { loss: 'ce', batch_size: 32, epochs: 6, patience: 1, lr: 0.05, seed: 4 },
    eval: { k: [5, 10] },
  });
}

async function fit(ops: Ops, cfg: TrialConfig): Promise<{ epochs: EpochEvent[]; result: unknown }> {
  const sink = new MemoryEventSink();
  const result = await prepareTrial(ops, cfg, bench.data).run(sink);
  const epochs = sink.events.filter((e): e is EpochEvent => e.type === 'epoch').map((e) => ({ ...e, epoch_seconds: 0, tokens_per_second: 0 }));
  return { epochs, result: { ...result, mean_epoch_seconds: 0, total_seconds: 0 } };
}

describe('narrow operand copies', () => {
  it('are planned only where the backend asks for them', () => {
    const { ops: cpu, data } = bench;
    const plain = planTrial(cpu, config(), data).specs;
    const narrow = planTrial(withNarrowOperands(cpu), config(), data).specs;
    expect(plain.params_narrow).toEqual([]);
    expect(narrow.params_narrow.map((s) => s.name)).toEqual(narrow.params.map((s) => s.name));
    const copies = (specs: typeof plain): string[] => specs.activations.map((s) => s.name).filter((n) => n.endsWith('_narrow'));
    expect(copies(plain)).toEqual([]);
    expect(copies(narrow)).toEqual(['block0.x_narrow', 'block0.ln1_narrow', 'block0.ln2_narrow', 'block1.x_narrow', 'block1.ln1_narrow', 'block1.ln2_narrow']);
  });

  it('leave a training step bit for bit as without them (SASRec and BERT4Rec)', async () => {
    const { ops: cpu, data } = bench;
    for (const model of ['sasrec', 'bert4rec'] as const) {
      const cfg = config(model);
      const batches = [...trainBatches(data.train, { batchSize: 32, maxLen: 8, seed: 2, epoch: 0 })].slice(0, 3);
      const params = async (ops: Ops): Promise<Float32Array> => {
        const { trial, close } = openTrial(ops, cfg, data);
        try {
          for (const b of batches) trial.trainStep(b);
          return await trial.parameters();
        } finally {
          close();
        }
      };
      expect(await params(withNarrowOperands(cpu)), model).toEqual(await params(cpu));
    }
  });

  it('leave a whole fit (early stopping, the best epoch restored, its test) bit for bit as without them', async () => {
    const cpu = bench.ops;
    const plain = await fit(cpu, config());
    const narrow = await fit(withNarrowOperands(cpu), config());
    // The restore is exercised: training stopped after an epoch worse than the best.
    expect((plain.result as { best_epoch: number }).best_epoch).toBeLessThan(plain.epochs.length);
    expect(narrow).toEqual(plain);
  });
});
