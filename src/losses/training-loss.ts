/**
 * The loss layer of the trainer: one of the losses (ops.ts LossParams defines each), bound to its
 * workspace and, for popularity sampling, to the alias tables on the device. It turns the trial's
 * loss settings and the global step into the per-step LossParams, so the model and the loop never
 * spell out a loss-specific detail.
 */
import { isSampled, type LossKind } from '../backend/loss-kinds.js';
import { popularitySampler } from '../backend/negatives.js';
import type { Forked, LossBackwardOptions, LossDims, LossParams, NegativeParams, NegativeSampling, Ops, SceParams, Tensor, TensorGroup, TensorSpec } from '../backend/ops.js';
import type { SceSettings } from '../backend/sce.js';

/** A trial's loss settings. */
export interface LossSettings {
  readonly kind: LossKind;
  /** Negatives per position (sampled losses only). */
  readonly negatives?: number;
  /** @default "uniform" */
  readonly sampling?: NegativeSampling;
  /** train.seed: the Philox key of the negatives. */
  readonly seed: number;
  /** gbce's calibration t (train.gbce_t); required for gbce. */
  readonly gbceT?: number;
  /** sce's buckets (train.sce_*); required for sce. */
  readonly sce?: SceSettings;
}

/** The names of the popularity tables' tensors. */
const TABLES = { prob: 'popularity_prob', alias: 'popularity_alias', logProb: 'popularity_log_prob' } as const;

/** A loss bound to its device buffers. */
export class TrainingLoss {
  readonly settings: LossSettings;
  readonly #ops: Ops;
  readonly #dims: LossDims;
  #workspace: TensorGroup | null = null;
  #tables: TensorGroup | null = null;
  #counters: Tensor | null = null;

  /** `dims.rows` is the largest N = B·L the loss will see; every call may use fewer rows. */
  constructor(ops: Ops, settings: LossSettings, dims: LossDims) {
    if (isSampled(settings.kind) && settings.negatives === undefined) {
      throw new Error(`loss ${settings.kind} needs a number of negatives`);
    }
    if (settings.kind === 'gbce' && settings.gbceT === undefined) throw new Error('loss gbce needs its calibration t (gbceT)');
    if (settings.kind === 'sce' && settings.sce === undefined) throw new Error('loss sce needs its buckets (sce)');
    this.#ops = ops;
    this.settings = settings;
    this.#dims = dims;
  }

  get #sampled(): boolean {
    return isSampled(this.settings.kind);
  }

  get #popularity(): boolean {
    return this.#sampled && this.settings.sampling === 'popularity';
  }

  #negatives(step: number): NegativeParams | undefined {
    if (!this.#sampled) return undefined;
    const t = this.#tables;
    return {
      count: this.settings.negatives!,
      sampling: this.settings.sampling ?? 'uniform',
      seed: this.settings.seed,
      step,
      ...(this.#counters !== null ? { counters: this.#counters } : {}),
      ...(t !== null ? { popularity: { prob: t.get(TABLES.prob), alias: t.get(TABLES.alias), logProb: t.get(TABLES.logProb) } } : {}),
    };
  }

  /** sce's buckets at `step`: drawn anew each step (from the device counters where bound). */
  #sce(step: number): SceParams | undefined {
    const s = this.settings.sce;
    if (this.settings.kind !== 'sce' || s === undefined) return undefined;
    return { ...s, seed: this.settings.seed, step, ...(this.#counters !== null ? { counters: this.#counters } : {}) };
  }

  /** The workspace saved between forward and backward (backend-specific). */
  workspaceSpecs(): readonly TensorSpec[] {
    return this.#ops.lossWorkspace({ kind: this.settings.kind, negatives: this.#negatives(0), sce: this.#sce(0) }, this.#dims);
  }

  /** The popularity sampler's tables (none unless sampling is popularity). */
  tableSpecs(): TensorSpec[] {
    if (!this.#popularity) return [];
    const V = this.#dims.items;
    return [
      { name: TABLES.prob, shape: [V], dtype: 'i32' },
      { name: TABLES.alias, shape: [V], dtype: 'i32' },
      { name: TABLES.logProb, shape: [V + 1], dtype: 'f32' },
    ];
  }

  /**
   * Binds the allocated workspace and tables; writes the alias table built from the training item
   * counts (indexed by item id, length V + 1) when sampling by popularity. With `counters` (the step's
   * counters on the device), negatives read their step there, so that a recorded step replays.
   */
  bind(workspace: TensorGroup, tables: TensorGroup | null, itemCounts: Float64Array, counters: Tensor | null = null): void {
    this.#workspace = workspace;
    this.#counters = counters;
    if (!this.#popularity) return;
    if (tables === null) throw new Error('popularity sampling needs its tables group');
    const s = popularitySampler(itemCounts);
    this.#ops.write(tables.get(TABLES.prob), new Int32Array(s.prob.buffer, s.prob.byteOffset, s.prob.length));
    this.#ops.write(tables.get(TABLES.alias), s.alias);
    this.#ops.write(tables.get(TABLES.logProb), Float32Array.from(s.logP));
    this.#tables = tables;
  }

  #params(validRows: number, step: number): LossParams {
    const negatives = this.#negatives(step);
    const gbceT = this.settings.gbceT;
    const sce = this.#sce(step);
    return {
      kind: this.settings.kind, validRows,
      ...(negatives !== undefined ? { negatives } : {}), ...(gbceT !== undefined ? { gbceT } : {}), ...(sce !== undefined ? { sce } : {}),
    };
  }

  #ws(): TensorGroup {
    if (this.#workspace === null) throw new Error('TrainingLoss used before bind()');
    return this.#workspace;
  }

  /** loss[0] = the mean loss of `rows` rows of h against targets (validRows of them not padding) at `step`. */
  forward(loss: Tensor, h: Tensor, table: Tensor, targets: Tensor, rows: number, validRows: number, step: number): void {
    this.#ops.lossForward(loss, this.#ws(), h, table, targets, { ...this.#dims, rows }, this.#params(validRows, step));
  }

  /**
   * After `forward` with the same arguments: dH (overwrite), dTable (+=) of dLoss · loss; with
   * options.tableBeside, the fork of the table gradient to join (Ops.lossBackward), or null.
   */
  backward(
    dH: Tensor, dTable: Tensor, h: Tensor, table: Tensor, targets: Tensor, rows: number, validRows: number, step: number, dLoss = 1,
    options: LossBackwardOptions = {},
  ): Forked | null {
    return this.#ops.lossBackward(dH, dTable, this.#ws(), h, table, targets, { ...this.#dims, rows }, this.#params(validRows, step), dLoss, options);
  }
}
