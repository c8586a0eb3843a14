/**
 * The training loop of one trial (SEED-NOTES.md): Adam over every parameter, one pass over the
 * training users per epoch in a seeded order, validation after every epoch, early stopping with
 * patience on validation NDCG, the best epoch's parameters restored for the test. Given the seed (and
 * the backend's thread count), every number it reports is reproducible.
 */
import type { Ops, TensorGroup } from '../backend/ops.js';
import { batchCount, trainBatches } from '../data/batches.js';
import type { PreparedDataset } from '../data/types.js';
import { TrainingLoss } from '../losses/training-loss.js';
import { Sasrec } from '../model/sasrec.js';
import type { SasrecDims } from '../model/sasrec-specs.js';
import type { TrialConfig } from './config.js';
import { evaluate, type EvalTensors } from './evaluate.js';
import type { EventSink } from './events.js';
import type { Metrics, ResultEvent } from './protocol.js';
import { allocatePlan, planReport, planSpecs, plannedBytes, type GroupName } from './training-plan.js';
import type { TensorSpec } from '../backend/memory-plan.js';

/** Adam's epsilon (PyTorch's default, as the reference). */
export const ADAM_EPS = 1e-8;

/** The validation metric early stopping watches: NDCG at 10, or at the smallest configured K without 10. */
export function objectiveMetric(ks: readonly number[]): string {
  return `ndcg@${ks.includes(10) ? 10 : ks[0]!}`;
}

/** A trial ready to train: its model, loss and plan, allocated. */
export interface PreparedTrial {
  readonly plannedPeakBytes: number;
  readonly planReport: string;
  /** Trains, validates every epoch, tests the best epoch; sends epoch events through `sink`. */
  run(sink: EventSink): Promise<ResultEvent>;
}

/** Model dimensions of a config on a data set. */
export function modelDims(cfg: TrialConfig, data: PreparedDataset): SasrecDims {
  const m = cfg.model;
  return { items: data.numItems, hidden: m.hidden, blocks: m.blocks, heads: m.heads, maxLen: m.max_seq_len };
}

/** Plans a trial: sizes every tensor, without allocating. */
export function planTrial(ops: Ops, cfg: TrialConfig, data: PreparedDataset): { specs: Record<GroupName, readonly TensorSpec[]>; loss: TrainingLoss } {
  const dims = modelDims(cfg, data);
  const t = cfg.train;
  const loss = new TrainingLoss(
    ops,
    { kind: t.loss, seed: t.seed, ...(t.negatives !== undefined ? { negatives: t.negatives } : {}), ...(t.sampling !== undefined ? { sampling: t.sampling } : {}) },
    { rows: t.batch_size * dims.maxLen, items: dims.items, hidden: dims.hidden },
  );
  const specs = planSpecs({
    dims, trainRows: t.batch_size, evalRows: Math.min(cfg.eval.batch_size, t.batch_size),
    kMax: Math.max(...cfg.eval.k), validation: data.validation, test: data.test, loss,
  });
  return { specs, loss };
}

/** Plans and allocates a trial; `run` then trains it. */
export function prepareTrial(ops: Ops, cfg: TrialConfig, data: PreparedDataset): PreparedTrial {
  const { specs, loss } = planTrial(ops, cfg, data);
  return {
    plannedPeakBytes: plannedBytes(specs),
    planReport: planReport(specs),
    run: (sink) => runTrial(ops, cfg, data, specs, loss, sink),
  };
}

async function runTrial(
  ops: Ops, cfg: TrialConfig, data: PreparedDataset, specs: Record<GroupName, readonly TensorSpec[]>, loss: TrainingLoss, sink: EventSink,
): Promise<ResultEvent> {
  const started = performance.now();
  const g = allocatePlan(ops, specs);
  try {
    return await fit(ops, cfg, data, specs, loss, sink, g, started);
  } finally {
    for (const group of Object.values(g)) ops.freeGroup(group);
  }
}

async function fit(
  ops: Ops, cfg: TrialConfig, data: PreparedDataset, specs: Record<GroupName, readonly TensorSpec[]>, loss: TrainingLoss,
  sink: EventSink, g: Record<GroupName, TensorGroup>, started: number,
): Promise<ResultEvent> {
  const t = cfg.train;
  const dims = modelDims(cfg, data);
  const { maxLen: L } = dims;
  const model = new Sasrec(ops, dims, cfg.model.dropout, { params: g.params, grads: g.grads, acts: g.activations, scratch: g.backward });
  model.initialise(t.seed);
  for (const moment of [g.adam_m, g.adam_v]) ops.fill(moment.flat(), 0, moment.flat().size);
  loss.bind(g.loss_workspace, specs.popularity.length > 0 ? g.popularity : null, data.itemCounts);
  for (const set of ['validation', 'test'] as const) {
    ops.write(g.histories.get(`${set}_offsets`), data[set].inputs.offsets);
    ops.write(g.histories.get(`${set}_items`), data[set].inputs.items);
  }
  const evalOf = (set: 'validation' | 'test'): EvalTensors => ({
    ids: g.batch.get('ids'), eval: g.eval, historyOffsets: g.histories.get(`${set}_offsets`), historyItems: g.histories.get(`${set}_items`),
  });
  const evalRows = Math.min(cfg.eval.batch_size, t.batch_size);
  const objective = objectiveMetric(cfg.eval.k);
  const ids = g.batch.get('ids');
  const labels = g.batch.get('labels');
  const lossT = g.batch.get('loss');
  const params = g.params.flat();
  const grads = g.grads.flat();
  const users = data.train.offsets.length - 1;
  const steps = batchCount(users, t.batch_size);

  let step = 0;
  let best = { epoch: 0, value: -Infinity, metrics: {} as Metrics, params: null as Float32Array | null };
  const epochSeconds: number[] = [];
  for (let epoch = 1; epoch <= t.epochs; epoch++) {
    const epochStart = performance.now();
    let lossSum = 0;
    let tokens = 0;
    let inEpoch = 0;
    for (const batch of trainBatches(data.train, { batchSize: t.batch_size, maxLen: L, seed: t.seed, epoch: epoch - 1 })) {
      inEpoch++;
      let valid = 0;
      for (let i = 0; i < batch.labels.length; i++) if (batch.labels[i] !== 0) valid++;
      if (valid === 0) continue;
      const N = batch.rows * L;
      const ctx = { train: true, seed: t.seed, step };
      ops.write(ids, batch.inputs);
      ops.write(labels, batch.labels);
      ops.fill(grads, 0, grads.size);
      model.forward(ids, batch.rows, ctx);
      loss.forward(lossT, model.hidden, model.itemTable, labels, N, valid, step);
      loss.backward(model.hiddenGrad, model.itemTableGrad, model.hidden, model.itemTable, labels, N, valid, step);
      model.backward(ids, batch.rows, ctx);
      step++;
      ops.adamStep(params, g.adam_m.flat(), g.adam_v.flat(), grads, params.size, { lr: t.lr, beta1: t.beta1, beta2: t.beta2, eps: ADAM_EPS, step });
      lossSum += (await ops.readF32(lossT))[0]! * valid;
      tokens += valid;
      sink.tick(epoch, inEpoch, steps);
    }
    const trainLoss = tokens > 0 ? lossSum / tokens : 0;
    // JSON has no NaN: a diverged run fails with a clear message instead of an unreadable event.
    if (!Number.isFinite(trainLoss)) throw new Error(`training diverged: the mean training loss of epoch ${epoch} is ${trainLoss} (try a smaller train.lr)`);
    const trainSeconds = (performance.now() - epochStart) / 1000;
    const metrics = await evaluate(ops, model, data.validation, evalOf('validation'), cfg.eval.k, evalRows);
    const seconds = (performance.now() - epochStart) / 1000;
    epochSeconds.push(seconds);
    sink.send({
      type: 'epoch', epoch, train_loss: trainLoss, metrics,
      epoch_seconds: seconds, peak_bytes: ops.memory().peakBytes, tokens_per_second: trainSeconds > 0 ? tokens / trainSeconds : 0,
    });
    const value = metrics[objective] ?? Number.NaN;
    // NaN (a diverged run) never counts as an improvement.
    if (value > best.value) best = { epoch, value, metrics, params: await ops.readF32(params) };
    else if (epoch - best.epoch >= t.patience) break;
  }
  if (best.params !== null) ops.write(params, best.params);
  const test = await evaluate(ops, model, data.test, evalOf('test'), cfg.eval.k, evalRows);
  return {
    type: 'result',
    best_epoch: best.epoch,
    test,
    validation: best.metrics,
    peak_bytes: ops.memory().peakBytes,
    mean_epoch_seconds: epochSeconds.reduce((a, b) => a + b, 0) / Math.max(1, epochSeconds.length),
    total_seconds: (performance.now() - started) / 1000,
  };
}
