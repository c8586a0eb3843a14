/**
 * The training loop of one trial (as the reference system trains): Adam over every parameter, one pass over the
 * training users per epoch in a seeded order, validation after every epoch, early stopping with
 * patience on the sweep's objective (`train.monitor`, validation NDCG by default), the best epoch's
 * parameters restored for the test. Given the seed (and
 * the backend's thread count), every number it reports is reproducible.
 *
 * Batches are packed (data/packing.ts): each sequence's items one after another, padding positions taking no
 * rows, in a number of rows planned from the data; the rare batch that does not fit trains as two steps.
 * No step waits for the device, and on the GPU a step is one replay of a recorded CUDA graph: every step
 * runs B sequences in those rows (the short last batch has empty sequences, which no loss counts); what changes from
 * step to step (the batch and the counters {global step, valid targets}) is written to the device before
 * the replay and read there by the kernels; the loss is computed as a sum over valid targets and Adam
 * divides the gradient by their count (the mean's gradient); the loss is summed on the device and read
 * once per epoch, and the best epoch's parameters are kept by a device copy.
 */
import type { TensorSpec } from '../backend/memory-plan.js';
import type { Ops, TensorGroup } from '../backend/ops.js';
import type { SceSettings } from '../backend/sce.js';
import { batchCount, trainBatches, trainRowNeeds, type Masking } from '../data/batches.js';
import { packBatch, plannedRows } from '../data/packing.js';
import type { PreparedDataset, TrainBatch } from '../data/types.js';
import { TrainingLoss } from '../losses/training-loss.js';
import { bert4recDims, maskTokenId } from '../model/bert4rec.js';
import { Sasrec } from '../model/sasrec.js';
import { modelLayout, type SasrecDims } from '../model/sasrec-specs.js';
import { defaultMonitor, type TrialConfig } from './config.js';
import { evaluate, type EvalTensors } from './evaluate.js';
import type { EventSink } from './events.js';
import { RecordedWork } from './recorded-work.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ResultEvent } from './protocol.js';
import { allocatePlan, planReport, planSpecs, plannedBytes, type GroupName } from './training-plan.js';

/** Adam's epsilon (PyTorch's default, as the reference). */
export const ADAM_EPS = 1e-8;


/** A trial ready to train: its model, loss and plan, allocated. */
export interface PreparedTrial {
  /** The plan's bytes plus what the backend holds itself (the CUDA context and its scratch). */
  readonly plannedPeakBytes: number;
  readonly planReport: string;
  /** Trains, validates every epoch, tests the best epoch; sends epoch events through `sink`. */
  run(sink: EventSink): Promise<ResultEvent>;
}

/** Model dimensions of a config on a data set (BERT4Rec's from model/bert4rec.ts). */
export function modelDims(cfg: TrialConfig, data: PreparedDataset): SasrecDims {
  const m = cfg.model;
  const dims = { items: data.numItems, hidden: m.hidden, blocks: m.blocks, heads: m.heads, maxLen: m.max_seq_len, tieOutput: m.tie_output };
  return m.name === 'bert4rec' ? bert4recDims(dims) : dims;
}

/** The masking of training sequences where the model has a mask token (BERT4Rec: train.mask_prob is set), else none. */
function trainMasking(cfg: TrialConfig, dims: SasrecDims): Masking | undefined {
  return dims.maskToken === true ? { prob: cfg.train.mask_prob!, token: maskTokenId(dims) } : undefined;
}

/** Rows of an evaluation batch: at most the training batch, whose activations evaluation reuses. */
function evalRows(cfg: TrialConfig): number {
  return Math.min(cfg.eval.batch_size, cfg.train.batch_size);
}

/** Rows of the packed batch a trial's steps run (data/packing.ts plannedRows over its training samples). */
export function trialRows(cfg: TrialConfig, data: PreparedDataset, dims: SasrecDims): number {
  const t = cfg.train;
  const masked = trainMasking(cfg, dims) !== undefined;
  return plannedRows(trainRowNeeds(data.train, dims.maxLen, t.first_target ?? true, masked), t.batch_size, dims.maxLen);
}

/** sce's buckets from its train keys (present for sce: trainer/config.ts fills their defaults). */
function sceSettingsOf(t: TrialConfig['train']): SceSettings {
  const { sce_buckets: buckets, sce_bucket_rows: bucketRows, sce_bucket_items: bucketItems, sce_mix: mix } = t;
  if (buckets === undefined || bucketRows === undefined || bucketItems === undefined || mix === undefined) {
    throw new Error('loss sce: its train keys (sce_buckets, sce_bucket_rows, sce_bucket_items, sce_mix) are missing from the resolved config');
  }
  return { buckets, bucketRows, bucketItems, mix };
}

/** Plans a trial: sizes every tensor, without allocating; `rows` is the packed batch's (trialRows). */
export function planTrial(
  ops: Ops, cfg: TrialConfig, data: PreparedDataset,
): { specs: Record<GroupName, readonly TensorSpec[]>; loss: TrainingLoss; rows: number } {
  const dims = modelDims(cfg, data);
  const t = cfg.train;
  const rows = trialRows(cfg, data, dims);
  const loss = new TrainingLoss(
    ops,
    {
      kind: t.loss, seed: t.seed,
      ...(t.negatives !== undefined ? { negatives: t.negatives } : {}),
      ...(t.sampling !== undefined ? { sampling: t.sampling } : {}),
      ...(t.gbce_t !== undefined ? { gbceT: t.gbce_t } : {}),
      ...(t.loss === 'sce' ? { sce: sceSettingsOf(t) } : {}),
    },
    { rows, items: dims.items, hidden: dims.hidden },
  );
  const specs = planSpecs({
    dims, trainRows: t.batch_size, rows, evalRows: evalRows(cfg), kMax: Math.max(...cfg.eval.k),
    validation: data.validation, test: data.test, loss, layout: modelLayout(ops, dims, t.batch_size, rows),
  });
  return { specs, loss, rows };
}

/** Plans and allocates a trial; `run` then trains it. */
export function prepareTrial(ops: Ops, cfg: TrialConfig, data: PreparedDataset): PreparedTrial {
  const { specs, loss, rows } = planTrial(ops, cfg, data);
  return {
    plannedPeakBytes: ops.reservedBytes + plannedBytes(specs),
    planReport: planReport(specs, ops.reservedBytes, rows, cfg.train.batch_size * cfg.model.max_seq_len),
    run: async (sink) => {
      const started = performance.now();
      const groups = allocatePlan(ops, specs);
      const trial = new Trial(ops, cfg, data, groups, loss, specs.popularity.length > 0);
      try {
        return await trial.fit(sink, started);
      } finally {
        trial.close();
        for (const group of Object.values(groups)) ops.freeGroup(group);
      }
    },
  };
}

/** What one epoch of training measured. */
interface EpochTraining {
  /** Mean training loss over the epoch's valid targets. */
  readonly loss: number;
  /** Valid targets trained on. */
  readonly tokens: number;
  readonly seconds: number;
}

/**
 * A planned trial allocated on `ops`, for scripts that drive steps themselves (benchmarks); `close`
 * frees its groups.
 */
export function openTrial(ops: Ops, cfg: TrialConfig, data: PreparedDataset): { trial: Trial; close(): void } {
  const { specs, loss } = planTrial(ops, cfg, data);
  const groups = allocatePlan(ops, specs);
  const trial = new Trial(ops, cfg, data, groups, loss, specs.popularity.length > 0);
  return {
    trial,
    close: () => {
      trial.close();
      for (const group of Object.values(groups)) ops.freeGroup(group);
    },
  };
}

/** Zeroes every view of a group, whatever its dtype (flat() covers all-f32 groups only). */
export function zeroViews(ops: Ops, group: TensorGroup): void {
  for (const view of group.plan.views) ops.fill(group.get(view.spec.name), 0, view.size);
}

/** One trial's model, loss and tensors, bound together; `fit` runs it. */
export class Trial {
  readonly #ops: Ops;
  readonly #cfg: TrialConfig;
  readonly #data: PreparedDataset;
  readonly #g: Record<GroupName, TensorGroup>;
  readonly #loss: TrainingLoss;
  readonly #model: Sasrec;
  /** Global training step (0-based): the Philox key of dropout and negatives. */
  #step = 0;
  /** The step, recorded after one eager step has loaded every kernel. */
  readonly #recordedStep = new RecordedWork('the training step', 'steps');
  /** The full evaluation batch of each set, recorded likewise (their histories differ). */
  readonly #evalRecordings = {
    validation: new RecordedWork('the evaluation batch', 'batches'), test: new RecordedWork('the evaluation batch', 'batches'),
  };
  /** Rows of the packed batch (the activations' rows). */
  readonly #rows: number;

  constructor(ops: Ops, cfg: TrialConfig, data: PreparedDataset, g: Record<GroupName, TensorGroup>, loss: TrainingLoss, popularity: boolean) {
    this.#ops = ops;
    this.#cfg = cfg;
    this.#data = data;
    this.#g = g;
    this.#loss = loss;
    // The narrow mirror is planned only where the GEMMs read narrow operands (ModelLayout.copies).
    const narrow = g.params_narrow.plan.views.length > 0 ? { narrow: g.params_narrow } : {};
    this.#model = new Sasrec(ops, modelDims(cfg, data), cfg.model.dropout, { params: g.params, grads: g.grads, acts: g.activations, scratch: g.backward, ...narrow });
    this.#model.initialise(cfg.train.seed);
    this.#rows = g.batch.get('ids').size;
    // Rows that no op writes (packed layout: past the batch's rows; attention's padding positions) still
    // meet GEMMs as zero-weighted operands: they must hold finite numbers, so every buffer starts at 0.
    for (const moment of [g.adam_m, g.adam_v]) ops.fill(moment.flat(), 0, moment.flat().size);
    for (const group of [g.activations, g.backward]) zeroViews(ops, group);
    loss.bind(g.loss_workspace, popularity ? g.popularity : null, data.itemCounts, g.batch.get('counters'));
    for (const set of ['validation', 'test'] as const) {
      ops.write(g.histories.get(`${set}_offsets`), data[set].inputs.offsets);
      ops.write(g.histories.get(`${set}_items`), data[set].inputs.items);
    }
  }

  /** Trains with early stopping, restores the best epoch, tests it. */
  /** The parameters as a flat f32 group (for tests that compare trials). */
  parameters(): Promise<Float32Array> {
    return this.#ops.readF32(this.#g.params.flat());
  }

  /** Releases the recorded step. */
  close(): void {
    for (const recording of [this.#recordedStep, ...Object.values(this.#evalRecordings)]) recording.close();
  }

  async fit(sink: EventSink, started: number): Promise<ResultEvent> {
    const { train: t, eval: e } = this.#cfg;
    // The sweep's objective (train.monitor): higher is better, except for the training loss.
    const monitor = t.monitor ?? defaultMonitor(e.k);
    const sign = monitor === 'loss' ? -1 : 1;
    let best = { epoch: 0, value: -Infinity, metrics: {} as Metrics };
    const epochSeconds: number[] = [];
    for (let epoch = 1; epoch <= t.epochs; epoch++) {
      const epochStart = performance.now();
      const training = await this.#trainEpoch(epoch, sink);
      const metrics = await this.evaluate('validation');
      const seconds = (performance.now() - epochStart) / 1000;
      epochSeconds.push(seconds);
      sink.send({
        type: 'epoch', epoch, train_loss: training.loss, metrics, epoch_seconds: seconds,
        peak_bytes: this.#ops.memory().peakBytes, tokens_per_second: training.seconds > 0 ? training.tokens / training.seconds : 0,
      });
      const value = sign * (monitor === 'loss' ? training.loss : (metrics[monitor] ?? Number.NaN));
      // NaN (a diverged run) never counts as an improvement.
      if (value > best.value) {
        best = { epoch, value, metrics };
        this.#keepBest();
      } else if (epoch - best.epoch >= t.patience) {
        break;
      }
    }
    if (best.epoch > 0) this.#restoreBest();
    const test = await this.evaluate('test');
    return {
      type: 'result',
      best_epoch: best.epoch,
      test,
      validation: best.metrics,
      peak_bytes: this.#ops.memory().peakBytes,
      mean_epoch_seconds: epochSeconds.reduce((a, b) => a + b, 0) / Math.max(1, epochSeconds.length),
      total_seconds: (performance.now() - started) / 1000,
    };
  }

  /** One pass over the training users; the loss is read once, at the end. */
  async #trainEpoch(epoch: number, sink: EventSink): Promise<EpochTraining> {
    const ops = this.#ops;
    const t = this.#cfg.train;
    const L = this.#cfg.model.max_seq_len;
    const start = performance.now();
    const lossSum = this.#g.batch.get('loss_sum');
    ops.fill(lossSum, 0, 1);
    const steps = batchCount(this.#data.train.offsets.length - 1, t.batch_size);
    let tokens = 0;
    let inEpoch = 0;
    const masking = trainMasking(this.#cfg, this.#model.dims);
    const targets = masking !== undefined ? { masking } : { firstTarget: t.first_target ?? true };
    for (const batch of trainBatches(this.#data.train, { batchSize: t.batch_size, maxLen: L, seed: t.seed, epoch: epoch - 1, ...targets })) {
      inEpoch++;
      tokens += this.trainStep(batch);
      sink.tick(epoch, inEpoch, steps);
    }
    const sum = (await ops.readF32(lossSum))[0]!;
    const loss = tokens > 0 ? sum / tokens : 0;
    // JSON has no NaN: a diverged run fails with a clear message instead of an unreadable event.
    if (!Number.isFinite(loss)) throw new Error(`training diverged: the mean training loss of epoch ${epoch} is ${loss} (try a smaller train.lr)`);
    return { loss, tokens, seconds: (performance.now() - start) / 1000 };
  }

  /**
   * Optimiser steps on a batch: one, or one per part where its packed rows exceed the plan
   * (data/packing.ts); returns its valid targets (a part without any is skipped).
   */
  trainStep(batch: TrainBatch): number {
    let valid = 0;
    const parts = packBatch(batch.inputs, batch.labels, batch.rows, batch.length, this.#rows, this.#cfg.train.batch_size);
    for (const part of parts) valid += this.#packedStep(part.ids, part.labels!, part.seqs);
    return valid;
  }

  /** One optimiser step on a packed batch; returns its valid targets (0: the step is skipped). */
  #packedStep(ids: Int32Array, labels: Int32Array, seqs: Int32Array): number {
    const ops = this.#ops;
    const g = this.#g;
    let valid = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] !== 0) valid++;
    if (valid === 0) return 0;
    ops.write(g.batch.get('ids'), ids);
    ops.write(g.batch.get('labels'), labels);
    ops.write(g.batch.get('seqs'), seqs);
    ops.write(g.batch.get('counters'), Int32Array.of(this.#step, valid));
    this.#recordedStep.run(ops, () => this.#stepBody());
    this.#step++;
    return valid;
  }

  /**
   * The device work of one step, from the batch and counters on the device: forward, the loss summed
   * over valid targets, backward, Adam (dividing by the valid count), the epoch's loss sum.
   */
  #stepBody(): void {
    const ops = this.#ops;
    const g = this.#g;
    const t = this.#cfg.train;
    const N = this.#rows;
    const ids = g.batch.get('ids');
    const batch = { ids, layout: { seqs: g.batch.get('seqs'), rows: N }, B: t.batch_size };
    const labels = g.batch.get('labels');
    const counters = g.batch.get('counters');
    const step = this.#step;
    const ctx = { train: true, seed: t.seed, step, counters };
    const model = this.#model;
    const lossT = g.batch.get('loss');
    const grads = g.grads.flat();
    // What reads nothing the forward computes runs beside it, on the stream the loss's table gradient
    // takes later (Ops.fork 'second', so the forward's own forks do not wait for it): the gradients'
    // zeroing, joined before anything adds to them, and the embedding backward's grouping of the ids.
    const prologue = ops.fork(() => {
      ops.fill(grads, 0, grads.size);
      model.groupRows(batch);
    }, { lane: 'second' });
    model.forward(batch, ctx);
    // validRows 1: the loss and its gradient are sums over the valid targets; Adam divides by their count.
    this.#loss.forward(lossT, model.hidden, model.outputTable, labels, N, 1, step);
    ops.join(prologue);
    // The epoch's loss sum reads only the loss: beside the backward, not the step's last kernel.
    const lossSum = ops.fork(() => ops.axpy(g.batch.get('loss_sum'), lossT, 1, 1), { lane: 'second' });
    // The table gradient runs beside the model's backward, which joins it before the embedding's.
    const tableGrad = this.#loss.backward(model.hiddenGrad, model.outputTableGrad, model.hidden, model.outputTable, labels, N, 1, step, 1, { tableBeside: true });
    model.backward(batch, ctx, tableGrad, true);
    const params = g.params.flat();
    const narrow = model.narrowParams;
    ops.adamStep(params, g.adam_m.flat(), g.adam_v.flat(), grads, params.size, {
      lr: t.lr, beta1: t.beta1, beta2: t.beta2, eps: ADAM_EPS, step: step + 1, counters, ...(narrow === null ? {} : { narrow }),
    });
    ops.join(lossSum);
  }

  /** Metrics of the current parameters on a split. */
  evaluate(set: 'validation' | 'test'): Promise<Metrics> {
    const g = this.#g;
    const tensors: EvalTensors = {
      ids: g.batch.get('ids'), seqs: g.batch.get('seqs'), eval: g.eval,
      historyOffsets: g.histories.get(`${set}_offsets`), historyItems: g.histories.get(`${set}_items`),
    };
    // A model with a mask token (BERT4Rec) ranks from it, after the last L − 1 items.
    const queryToken = this.#model.dims.maskToken === true ? maskTokenId(this.#model.dims) : undefined;
    return evaluate(this.#ops, this.#model, this.#data[set], tensors, this.#cfg.eval.k, evalRows(this.#cfg), queryToken, this.#evalRecordings[set]);
  }

  #keepBest(): void {
    const params = this.#g.params.flat();
    this.#ops.copy(this.#g.best.flat(), params, params.size);
  }

  #restoreBest(): void {
    const params = this.#g.params.flat();
    this.#ops.copy(params, this.#g.best.flat(), params.size);
    this.#model.paramsWritten();
  }
}
