/**
 * SASRec (Kang & McAuley 2018) as the reference system trains it, over the ops interface:
 * e = Dropout(sqrt(d) · E[ids] + P) · mask (one dropout given the padding rows); the blocks of
 * transformer-block.ts (causal); h = LN(x), computed by the last block's last GEMM (its epilogue's layerNorm).
 * Scores are h · Oᵀ with O the output table: the item table E when tied (the default), else a separate
 * table `out_emb` (`outputTable`: the losses and scoreItems read it).
 *
 * Dropout sites (RngKey.site): 0 the embedding; block b: 1 + 3b attention probabilities, 2 + 3b the
 * FFN's ReLU output, 3 + 3b the FFN's output. Forward and backward of one step share (seed, step).
 */
import type { DropoutSpec, Forked, MatmulLayerNorm, Ops, SequenceRows, Tensor, TensorGroup, TensorLookup } from '../backend/ops.js';
import { initTensor, sasrecInitRule } from './init.js';
import {
  blockBackward, blockForward, blockForwardLast, blockLn1, LAYER_NORM_EPS, type BlockForks, type BlockGroups, type BlockPass,
} from './transformer-block.js';
import { blockName, embeddingScratchName, ffnWidth, inputVocabulary, outputTableName, sasrecParamSpecs, type SasrecDims } from './sasrec-specs.js';

/**
 * A batch on the device: B sequences whose items lie in the rows `layout` gives (ops.ts SequenceRows:
 * padded, or packed with padding positions taking no rows) and their ids [layout.rows] (0 on rows no
 * sequence owns). Every activation has layout.rows rows.
 */
export interface BatchRows {
  readonly ids: Tensor;
  readonly layout: SequenceRows;
  /** Sequences (layout.seqs has B entries). */
  readonly B: number;
}

/** The regime of one pass: training applies dropout keyed by (seed, step); evaluation does not. */
export interface PassContext {
  readonly train: boolean;
  readonly seed: number;
  /** Global training step (the Philox key's second word). */
  readonly step: number;
  /** The step's counters on the device, where a replayed step reads `step` (ops.ts RngKey.counters). */
  readonly counters?: Tensor;
}

/**
 * A SASRec instance bound to its tensor groups; with model/bert4rec.ts's dims (bidirectional, the mask
 * token's row, a 4d FFN) the same class is BERT4Rec.
 */
export class Sasrec {
  readonly dims: SasrecDims;
  readonly dropout: number;
  readonly #ops: Ops;
  readonly #g: BlockGroups;

  /**
   * Binds the model to its groups: params and grads (sasrecParamSpecs), acts (sasrecActivationSpecs)
   * and scratch (sasrecBackwardSpecs), sized for at least the batches it will see.
   */
  constructor(ops: Ops, dims: SasrecDims, dropout: number, groups: BlockGroups) {
    if (dims.hidden % dims.heads !== 0) throw new Error(`SASRec: heads (${dims.heads}) must divide hidden (${dims.hidden})`);
    this.#ops = ops;
    this.dims = dims;
    this.dropout = dropout;
    this.#g = groups;
  }

  /** The table scores read [(V+1) × d]: the item table when tied, else `out_emb` (every loss and scoreItems read it). */
  get outputTable(): Tensor {
    return this.#g.params.get(outputTableName(this.dims));
  }

  /** The gradient of `outputTable` (the loss accumulates into it). */
  get outputTableGrad(): Tensor {
    return this.#g.grads.get(outputTableName(this.dims));
  }

  /** Final hidden states [N × d] of the last forward. */
  get hidden(): Tensor {
    return this.#g.acts.get('h');
  }

  /** Where the loss writes dL/dh [N × d] before `backward`. */
  get hiddenGrad(): Tensor {
    // g1 is free until the last block's backward, which runs after the final norm's has read dL/dh.
    return this.#g.scratch.get('g1');
  }

  /** Writes the initial parameters for `seed` (init.ts). */
  initialise(seed: number): void {
    // Zero first, so the alignment gaps between views hold numbers too (whole-group ops read them).
    const flat = this.#g.params.flat();
    this.#ops.fill(flat, 0, flat.size);
    for (const spec of sasrecParamSpecs(this.dims)) {
      const host = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      initTensor(host, sasrecInitRule(spec, this.dims), seed, spec.name);
      this.#ops.write(this.#g.params.get(spec.name), host);
    }
    this.paramsWritten();
  }

  /**
   * The parameters' narrow mirror as one flat tensor (BlockGroups.narrow), which the optimiser rewrites
   * with the parameters (AdamParams.narrow); null where the GEMMs read the f32 parameters.
   */
  get narrowParams(): Tensor | null {
    return this.#g.narrow === undefined ? null : this.#g.narrow.flat();
  }

  /** Brings the narrow mirror up to date after the parameters were written other than by the optimiser (a restore). */
  paramsWritten(): void {
    const narrow = this.narrowParams;
    if (narrow === null) return;
    const params = this.#g.params.flat();
    this.#ops.copy(narrow, params, params.size);
  }

  #pass(batch: BatchRows, ctx: PassContext, b: number): BlockPass {
    const { hidden: d, maxLen: L, heads } = this.dims;
    return {
      // BERT4Rec sees the whole sequence but not its padding; SASRec sees the causal past, padding included.
      B: batch.B, L, layout: batch.layout, d, heads, ffn: ffnWidth(this.dims), causal: this.dims.bidirectional !== true, keyPadding: this.dims.bidirectional === true,
      attnDrop: this.#drop(ctx, 1 + 3 * b),
      ffn1Drop: this.#drop(ctx, 2 + 3 * b),
      ffn2Drop: this.#drop(ctx, 3 + 3 * b),
    };
  }

  #drop(ctx: PassContext, site: number): DropoutSpec {
    const key = { seed: ctx.seed, step: ctx.step, site, ...(ctx.counters !== undefined ? { counters: ctx.counters } : {}) };
    return { p: ctx.train ? this.dropout : 0, key };
  }

  /** Forward of a batch: fills the activations and `hidden` [rows × d]. */
  forward(batch: BatchRows, ctx: PassContext): void {
    const { blocks } = this.dims;
    const { params, acts } = this.#g;
    const { ids } = batch;
    if (blocks < 1) throw new Error(`SASRec: forward needs at least one block, got ${blocks}`);
    this.#embed(batch, ctx);
    // Each block's last GEMM writes the norm that follows it too (transformer-block.ts BlockNorms): the
    // next block's LN1, the last block's the final norm (over every row: no ids, as its op had none).
    const final: MatmulLayerNorm = {
      out: acts.get('h'), mean: acts.get('final_mean'), rstd: acts.get('final_rstd'),
      weight: params.get('final_ln.weight'), bias: params.get('final_ln.bias'), eps: LAYER_NORM_EPS,
    };
    for (let b = 0; b < blocks; b++) {
      const last = b + 1 === blocks;
      const out = last ? acts.get('final_in') : acts.get(blockName(b + 1, 'x'));
      blockForward(this.#ops, this.#g, b, ids, out, this.#pass(batch, ctx, b), { ln1Ready: b > 0, next: last ? final : blockLn1(this.#g, b + 1, ids) });
    }
  }

  /**
   * Evaluation's forward: the final hidden state of each sequence's last position (the row evaluation
   * scores: SASRec's last item, BERT4Rec's mask token) into `out` [B × d], equal to the rows of the
   * sequences' position L − 1 of `hidden` after `forward` without dropout. The blocks before the last run whole; the last computes
   * only what that row needs (transformer-block.ts blockForwardLast): at L 512 about a third of the
   * forward's work is left out. Overwrites the activations, as forward does; `hidden` is not written.
   */
  forwardLast(out: Tensor, batch: BatchRows): void {
    const { hidden: d, blocks } = this.dims;
    const { params, acts } = this.#g;
    const { ids, B } = batch;
    if (blocks < 1) throw new Error(`SASRec: forwardLast needs at least one block, got ${blocks}`);
    const ctx: PassContext = { train: false, seed: 0, step: 0 };
    this.#embed(batch, ctx);
    // The blocks before the last chain their norms as forward's do, but for the last block's LN1, which
    // blockForwardLast computes on the last rows only.
    for (let b = 0; b + 1 < blocks; b++) {
      const next = b + 2 < blocks ? { next: blockLn1(this.#g, b + 1, ids) } : {};
      blockForward(this.#ops, this.#g, b, ids, acts.get(blockName(b + 1, 'x')), this.#pass(batch, ctx, b), { ln1Ready: b > 0, ...next });
    }
    const last = acts.get('final_in');
    blockForwardLast(this.#ops, this.#g, blocks - 1, ids, last, this.#pass(batch, ctx, blocks - 1));
    this.#ops.layerNormForward(
      out, acts.get('final_mean'), acts.get('final_rstd'), last, params.get('final_ln.weight'), params.get('final_ln.bias'), B, d, LAYER_NORM_EPS,
    );
  }

  /** The embedding of the batch into block 0's x, dropout and padding mask applied. */
  #embed(batch: BatchRows, ctx: PassContext): void {
    const ops = this.#ops;
    const { hidden: d, maxLen: L } = this.dims;
    const { params, acts } = this.#g;
    const { ids, layout, B } = batch;
    const N = layout.rows;
    const e = acts.get(blockName(0, 'x'));
    ops.embedForward(e, ids, params.get('item_emb'), params.get('pos_emb'), Math.sqrt(d), layout, B, L, d);
    // Dropout given the padding rows writes 0 there (the embedding leaves them as they were): the mask of
    // e, without a pass of its own.
    ops.dropout(e, e, N * d, this.#drop(ctx, 0), { ids, cols: d });
  }

  /**
   * The embedding backward's grouping of the batch's rows by id (Ops.embedGroupRows): it reads only the
   * ids, so a training step may run it beside the forward; `backward` with `rowsGrouped` then only sums.
   */
  groupRows(batch: BatchRows): void {
    this.#ops.embedGroupRows(this.#embeddingWorkspace(), batch.ids, batch.layout.rows, inputVocabulary(this.dims));
  }

  /** embedBackward's workspace (and embedGroupRows'), in the backward scratch group. */
  #embeddingWorkspace(): TensorLookup {
    const { scratch } = this.#g;
    return { get: (name: string) => scratch.get(embeddingScratchName(name)) };
  }

  /**
   * Backward after `forward` with the same arguments: reads `hiddenGrad`, accumulates every parameter
   * gradient (its forks joined). `tableGrad`: the loss's table gradient still running beside (Ops.lossBackward),
   * joined before the embedding's backward adds to the same table. `rowsGrouped`: `groupRows` has run for
   * this batch (and is joined, if it was forked).
   */
  backward(batch: BatchRows, ctx: PassContext, tableGrad: Forked | null = null, rowsGrouped = false): void {
    const ops = this.#ops;
    const { hidden: d, maxLen: L, blocks } = this.dims;
    const { params, grads, acts, scratch } = this.#g;
    const { ids, layout, B } = batch;
    const N = layout.rows;
    const dx = scratch.get('dx');
    // dx (=): the gradient entering the last block, no zeroing beforehand. Not split as the blocks' norms
    // are: its input, hiddenGrad, is g1, which the last block's backward writes first, so its parameter
    // part would have to be joined right there, costing what the one kernel costs.
    ops.layerNormBackward(
      dx, grads.get('final_ln.weight'), grads.get('final_ln.bias'), this.hiddenGrad, acts.get('final_in'),
      params.get('final_ln.weight'), acts.get('final_mean'), acts.get('final_rstd'), N, d, undefined, { overwrite: true },
    );
    let forks: BlockForks | undefined;
    for (let b = blocks - 1; b >= 0; b--) forks = blockBackward(ops, this.#g, b, ids, this.#pass(batch, ctx, b), forks);
    if (forks !== undefined) for (const forked of [forks.attnOut, forks.ln1, forks.qkv]) ops.join(forked);
    // dx's padding rows hold what the keys' and values' backward put there; the mask's gradient is 0
    // there, which dropout given the padding rows writes (the embedding then adds 0 to row 0).
    ops.dropout(dx, dx, N * d, this.#drop(ctx, 0), { ids, cols: d });
    if (tableGrad !== null) ops.join(tableGrad);
    // The mask token's row (BERT4Rec) is part of the table the embedding reads, so its vocabulary runs to V + 1.
    ops.embedBackward(
      grads.get('item_emb'), grads.get('pos_emb'), this.#embeddingWorkspace(), dx, ids, Math.sqrt(d), layout, B, L, inputVocabulary(this.dims), d, { grouped: rowsGrouped },
    );
  }
}
