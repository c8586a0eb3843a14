/**
 * The ops interface: every tensor operation SASRec (and later BERT4Rec) and its losses need, forward
 * and backward, written once by the model and implemented by each backend (cpu/: TypedArrays, the
 * reference; cuda/: our kernels).
 *
 * Contracts that hold for every op unless its TSDoc says otherwise:
 * - Arguments come in the order outputs, inputs, dimensions (as llm.c orders them).
 * - Tensors are opaque handles allocated through the backend's ONE allocator (`allocGroup`), which
 *   accounts live and peak bytes. Ops write into preallocated outputs and never allocate tensors.
 * - Outputs OVERWRITE unless marked "(+=)": then the op accumulates and the caller zeroes first.
 *   Gradients of parameters always accumulate; the trainer zeroes the gradient group once per step.
 * - Row-major layouts; `[N × d]` activations have N = B·L rows (row r = b·L + t).
 * - Host data moves only through `write` (host → device) and the async `readF32` / `readI32`.
 * - An output may alias an input only where the op says "may alias".
 */
import type { DType, GroupPlan, TensorSpec } from './memory-plan.js';
import type { SceSettings } from './sce.js';

export type { DType, TensorSpec } from './memory-plan.js';

/** An opaque tensor handle: a named, typed, shaped view into one allocation of its backend. */
export interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Elements (the product of the shape). */
  readonly size: number;
}

/**
 * The batch's padding rows for an element-wise op over n elements seen as rows of `cols`: a row whose
 * id is 0 is padding. The models pass them where padding rows' values do not matter (they are masked
 * later, or multiplied as zero rows), so that padding costs (almost) nothing.
 */
export interface PaddingRows {
  /** i32 [n / cols]. */
  readonly ids: Tensor;
  readonly cols: number;
}

/**
 * Where a batch's B sequences of L positions lie in the rows of its activations ([rows × ·] tensors):
 * sequence b holds len_b items at positions start_b = L − len_b .. L − 1 (left padding), and they are
 * rows first_b .. first_b + len_b − 1, in order. Padding positions take no rows. The padded layout is
 * first_b = b·L + start_b with rows = B·L (every position has its row); the packed layout puts the
 * sequences one after another, rows ≥ Σ len_b. Rows that no sequence owns are padding rows: their id
 * is 0 in the batch's ids [rows], and every op treats them as the padded layout's padding rows.
 */
export interface SequenceRows {
  /** i32 [B × 2]: (first_b, len_b) for each sequence b; len_b = 0 for an empty one (first_b is then not read). */
  readonly seqs: Tensor;
  /** Rows of the activations and of the batch's ids. */
  readonly rows: number;
}

/**
 * What every padding position holds as a key and a value where attention sees padding keys (SASRec: the
 * key and value projections' biases, their input being 0 there), and where backward adds their gradients.
 */
export interface PaddingKeys {
  /** f32 [H·hd]: the key of every padding position. */
  readonly k: Tensor;
  /** f32 [H·hd]: the value of every padding position. */
  readonly v: Tensor;
  /** f32 [H·hd] (+=, attentionBackward): the sum of the padding keys' key gradients. */
  readonly dk?: Tensor;
  /** f32 [H·hd] (+=, attentionBackward): the sum of the padding keys' value gradients. */
  readonly dv?: Tensor;
}

/** Which positions attention relates (ops.attentionForward). */
export interface AttentionMask {
  /** Where the sequences lie in the rows of q, k, v, out and their gradients. */
  readonly layout: SequenceRows;
  /** Row i sees keys j ≤ i only (SASRec); else every key (BERT4Rec). */
  readonly causal: boolean;
  /** Padding keys are not seen (BERT4Rec); SASRec sees them, as the reference system's SASRec does. */
  readonly keyPadding: boolean;
  /** Required when keyPadding is false: the padding keys' key and value (they take no rows). */
  readonly padKeys?: PaddingKeys;
}

/** Where an op finds the tensors of a workspace it declared (`attentionWorkspace`, `embeddingWorkspace`) by their names. */
export interface TensorLookup {
  /** The tensor declared as `name`; throws when there is none. */
  get(name: string): Tensor;
}

/** One allocation holding named views (a row of the memory plan). */
export interface TensorGroup extends TensorLookup {
  readonly plan: GroupPlan;
  /** The view named `name`; throws when the group has none. */
  get(name: string): Tensor;
  /**
   * The whole group as one flat tensor (alignment gaps included), for whole-group ops (zeroing
   * gradients, one Adam step over all parameters): f32 of `plan.bytes / 4` elements, or, for a group of
   * bf16 views (a narrow mirror on CUDA), bf16 of `plan.bytes / 2`. Throws unless every view is f32, or
   * every one bf16.
   */
  flat(): Tensor;
}

/** Bytes held by live allocations, and the maximum of that since the last `resetPeak`. */
export interface MemoryStats {
  readonly liveBytes: number;
  readonly peakBytes: number;
}

/** Loss types, as the trainer config spells them (trainer/config.ts LOSSES). */
export type LossKind = import('./loss-kinds.js').LossKind;

/** Negative sampling distributions. */
export type NegativeSampling = 'uniform' | 'popularity';

/**
 * Counter-based RNG key of one random stream (Philox4x32-10, backend/philox.ts): the same key gives
 * the same numbers on every backend, so backward regenerates forward's masks instead of storing them.
 */
export interface RngKey {
  /** train.seed: Philox key word 0. */
  readonly seed: number;
  /** Global training step: Philox key word 1. */
  readonly step: number;
  /** Which call site in the model (one per dropout location): Philox counter word 1. */
  readonly site: number;
  /**
   * The step's counters on the device (AdamParams.counters): where given, a backend that replays
   * recorded steps reads the step from counters[0]; it must equal `step`.
   */
  readonly counters?: Tensor;
}

/** Dropout of one op: probability and the key that defines its mask. p = 0 is the identity. */
export interface DropoutSpec {
  readonly p: number;
  readonly key: RngKey;
}

/** Options of `matmul`. */
export interface MatmulOptions {
  /** Use aᵀ: `a` is stored [k × m]. @default false */
  readonly transA?: boolean;
  /** Use bᵀ: `b` is stored [n × k]. @default false */
  readonly transB?: boolean;
  /** Accumulate into `out` (+=) instead of overwriting. @default false */
  readonly accumulate?: boolean;
  /** Scale of the product. @default 1 */
  readonly alpha?: number;
  /**
   * Ids of a's rows as stored (i32: m of them, k with transA): a row whose id is 0 may be taken as a zero
   * row, which a backend may skip (CUDA skips whole tiles of them; the CPU multiplies every row). The
   * models pass the batch's ids where padding rows' results are masked or their operands are zero, so
   * that padding costs nothing. Without transA a row taken as zero still gets the bias: its result is
   * exactly `bias` (with `accumulate`, out += bias), as if its operand row were zero.
   */
  readonly rowIds?: Tensor;
  /**
   * f32 [n], added to every one of the m rows after alpha scales the product: out = alpha · op(a) · op(b)
   * + bias (with `accumulate`, out += alpha · op(a) · op(b) + bias), so a linear layer's bias costs no
   * op of its own. @default none
   */
  readonly bias?: Tensor;
  /**
   * What follows the product and bias on each output element, in the order of the fields, so that a
   * layer's ReLU, dropout, residual sum and padding mask cost no ops of their own. Not with `accumulate`.
   * @default none
   */
  readonly epilogue?: MatmulEpilogue;
}

/**
 * Options of `layerNormBackward`, so that the residual sums around a norm and the zeroing of its input
 * gradient cost no ops (and no passes over [rows × cols]) of their own.
 */
export interface LayerNormBackwardOptions {
  /**
   * A second incoming gradient [rows × cols] (f32), added to dout first: the backward is that of
   * dout + dout2 as `add(dout, dout, dout2)` would store it (in dout's dtype; the CUDA backend keeps the
   * f32 sum), so the add costs no pass of its own. @default none
   */
  readonly dout2?: Tensor;
  /** Write dx (=) instead of adding to it (+=): no zeroing beforehand. @default false */
  readonly overwrite?: boolean;
  /**
   * One part alone, each with the bits it has when both run: 'input' dx (dWeight and dBias untouched),
   * 'params' dWeight and dBias (dx neither read nor written), so that the parameter gradients may be
   * forked (Ops.fork) off the backward's path. @default both
   */
  readonly only?: 'input' | 'params';
}

/**
 * The element-wise ops matmul may apply to out [m × n] (not transposed) after alpha and the bias, each
 * exactly as its own op would on out's m·n elements: v = alpha · op(a) · op(b) + bias, then
 * `reluForward`, then `dropout` (element i = row · n + col), then the `gate`, then `add` of the
 * residual; rows whose id in `padding` is 0 are written 0 (as `add` and `dropout` do given PaddingRows);
 * then, from the out so written, `layerNormForward` into a second output.
 */
export interface MatmulEpilogue {
  /** max(0, v). @default false */
  readonly relu?: boolean;
  /** Dropout of v with this key (p = 0: none). */
  readonly dropout?: DropoutSpec;
  /**
   * v is kept where `by` > 0, times `scale` (the double product rounded once to f32, as `dropout` scales),
   * else 0; `by` f32 or bf16 [m × n]. For backward GEMMs without bias: with by = Dropout(ReLU(·)) saved
   * by forward and scale = 1 / (1 - p) it is that dropout's backward followed by the ReLU's (`by` > 0
   * exactly where the ReLU's output was positive and the dropout kept it), with no mask regenerated.
   */
  readonly gate?: MatmulGate;
  /** f32 or bf16 [m × n] added last: out = residual + v. Must not alias out (a GEMM tile stores its product before it reads the residual). */
  readonly residual?: Tensor;
  /** i32 [m]: ids of out's rows; rows whose id is 0 are written 0. */
  readonly padding?: Tensor;
  /**
   * Applied last, after out is written: the layer norm of out's rows into `layerNorm.out`, exactly as
   * `layerNormForward(ln.out, ln.mean, ln.rstd, out, ln.weight, ln.bias, m, n, ln.eps, ln.ids)` would
   * (out keeps the values before the norm, which its backward reads), so that the norm after a residual
   * sum costs no pass of its own. @default none
   */
  readonly layerNorm?: MatmulLayerNorm;
}

/** The layer norm of a matmul epilogue (MatmulEpilogue.layerNorm): layerNormForward's outputs and inputs but x. */
export interface MatmulLayerNorm {
  /** f32 or bf16 [m × n]; must not alias out (nor the residual). */
  readonly out: Tensor;
  /** f32 [m] (overwrite). */
  readonly mean: Tensor;
  /** f32 [m] (overwrite). */
  readonly rstd: Tensor;
  /** f32 [n]. */
  readonly weight: Tensor;
  /** f32 [n]. */
  readonly bias: Tensor;
  readonly eps: number;
  /** i32 [m]: rows whose id is 0 get out = 0 and mean = rstd = 0 (layerNormForward's ids). @default none */
  readonly ids?: Tensor;
  /** Narrow copies the norm writes as well (layerNormForward's `copies`). @default none */
  readonly copies?: LayerNormCopies;
}

/**
 * Copies a layer norm writes beside its outputs, each [rows × cols] in the backend's activationDType
 * (rounded to nearest even), for the GEMMs that read them (Ops.narrowOperands): `out`, the norm's output,
 * and `x`, its input; rows whose id is 0 get 0 in both (the GEMMs skip or mask those rows).
 */
export interface LayerNormCopies {
  readonly out?: Tensor;
  readonly x?: Tensor;
}

/** The gate of a matmul epilogue (MatmulEpilogue.gate). */
export interface MatmulGate {
  /** f32 or bf16 [m × n]: where it is > 0 the value is kept. Must not alias out (a GEMM tile may read it after storing). */
  readonly by: Tensor;
  /** Factor of the kept values (a dropout's 1 / (1 - p)). */
  readonly scale: number;
}

/** Adam hyperparameters of one step (no weight decay, as the reference system). */
export interface AdamParams {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** 1-based step number, for bias correction. */
  readonly step: number;
  /**
   * The step's counters on the device, i32 [2] = {global step (0-based), valid targets M}, written by the
   * host before each step. Where given, the step is counters[0] + 1 (not `step`) and the gradient is
   * divided by counters[1]: the loss was computed as a SUM over valid targets (validRows 1), so a
   * recorded step replays with the values of each new batch.
   */
  readonly counters?: Tensor;
  /**
   * A copy of the updated parameters in the backend's activationDType ([n], rounded to nearest even),
   * written in the same pass: the narrow weights the GEMMs read (Ops.narrowOperands). @default none
   */
  readonly narrow?: Tensor;
}

/** Shapes shared by the loss entries: N rows of hidden states, catalogue of V items, width d. */
export interface LossDims {
  /** N: rows of H and of targets (padding positions included). */
  readonly rows: number;
  /** V: catalogue size; the embedding table has V + 1 rows, row 0 the padding id. */
  readonly items: number;
  /** d: hidden size. */
  readonly hidden: number;
}

/**
 * The popularity sampler on the device: backend/negatives.ts's alias table over columns 0..V-1
 * (column c = item c + 1) and log p_i for the log-Q correction.
 */
export interface PopularityTables {
  /** [V] i32 holding the bits of the uint32 acceptance thresholds (column c keeps itself iff w1 < prob[c]). */
  readonly prob: Tensor;
  /** [V] i32: the column drawn when column c rejects. */
  readonly alias: Tensor;
  /** [V + 1] f32: log p_i by item id (entry 0 unused). */
  readonly logProb: Tensor;
}

/** How sampled losses draw their negatives (backend/negatives.ts defines the draws exactly). */
export interface NegativeParams {
  /** n: negatives per position (with replacement). */
  readonly count: number;
  readonly sampling: NegativeSampling;
  /** train.seed. */
  readonly seed: number;
  /** Global training step (forward and backward of one step use the same). */
  readonly step: number;
  /** Required when sampling is 'popularity'. */
  readonly popularity?: PopularityTables;
  /** The step's counters on the device (RngKey.counters): where given, the step is read from counters[0]. */
  readonly counters?: Tensor;
}

/**
 * sce's buckets of one step (backend/sce.ts defines the loss): their sizes and the key of the step's
 * random projections, which a recorded step draws anew at each replay.
 */
export interface SceParams extends SceSettings {
  /** train.seed: Philox key word 0. */
  readonly seed: number;
  /** Global training step: Philox key word 1 (forward and backward of one step use the same). */
  readonly step: number;
  /** The step's counters on the device (RngKey.counters): where given, the step is read from counters[0]. */
  readonly counters?: Tensor;
}

/**
 * One loss evaluation. Every loss is a mean over the M valid rows (target ≠ 0):
 * - ce, cce: -s_t + logsumexp(s_1..s_V), s_i = h · E_i (items 1..V; row 0 never scored).
 * - ce-, cce-: softmax over {t} ∪ {n negatives}; negative logits corrected by + log(V-1) - log(n)
 *   (uniform) or - log(n · p_j) (popularity); a negative equal to the target is dropped.
 * - bce: -log σ(s_t) - Σ_{i≠t, 1≤i≤V} log σ(-s_i).
 * - bce+: -log σ(s_t) - Σ_j log σ(-s_{neg_j}) over negatives ≠ t.
 * - gbce: -β log σ(s_t) - Σ_j log σ(-s_{neg_j}) over negatives ≠ t, β from gbceT, n and V (backend/gbce.ts).
 * - sce: per row, the max over the random buckets that hold it of the softmax loss over the bucket's
 *   items plus the target; 0 for a row in no bucket (backend/sce.ts).
 * ce/cce and ce-/cce- are one loss computed two ways: ce and ce- hold the logits in their workspace;
 * cce never holds an [N × V] matrix and cce- never an [N × n] one.
 */
export interface LossParams {
  readonly kind: LossKind;
  /** M: rows whose target is not 0 (the mean's denominator); the caller counts them on the host. */
  readonly validRows: number;
  /** Required for ce-, cce-, bce+, gbce. */
  readonly negatives?: NegativeParams;
  /** gbce's calibration t in [0, 1] (backend/gbce.ts); required for gbce, ignored otherwise. */
  readonly gbceT?: number;
  /** sce's buckets and the key of their projections; required for sce, ignored otherwise. */
  readonly sce?: SceParams;
  /**
   * cce on the GPU: skip the gradient of logit tiles whose every |softmax − onehot| is at most this
   * (an approximation; the loss stays exact); 0 is exact, backends without the filter ignore it.
   * @default 0
   */
  readonly gradientFilter?: number;
}

/** Options of Ops.lossBackward. */
export interface LossBackwardOptions {
  /** Whether the table gradient may run beside the ops after the call (a fork the caller joins). @default false */
  readonly tableBeside?: boolean;
}

/** Options of Ops.fork. */
export interface ForkOptions {
  /**
   * Which side stream takes the work: 'side' (the one every fork shares, in order) or 'second' (the one
   * the loss's table gradient takes: work queued there does not hold up the forks of 'side', which wait
   * for whatever was queued before them on their stream). Backends with one side stream or none ignore it.
   * @default 'side'
   */
  readonly lane?: 'side' | 'second';
}

/** Options of Ops.embedBackward. */
export interface EmbedBackwardOptions {
  /**
   * Whether Ops.embedGroupRows has already grouped these ids into `workspace` (and nothing has written
   * the workspace since), so that embedBackward only sums. @default false
   */
  readonly grouped?: boolean;
}

/** Work Ops.fork queued beside the main sequence of ops, until Ops.join. */
export interface Forked {
  /** The fork's number within its backend. */
  readonly id: number;
}

/** A recorded training step (Ops.recordStep). */
export interface RecordedStep {
  /** Queues the recorded work once more, with whatever its tensors hold now. */
  replay(): void;
  /** Releases the recording. */
  close(): void;
}

/** A backend: its allocator, host transfers and every op. */
export interface Ops {
  /** Backend name as the protocol's hello reports it. */
  readonly backend: 'cpu' | 'cuda';
  /** Human-readable device name. */
  readonly deviceName: string;
  /**
   * The dtype of the activations that feed only GEMMs and attention (q, k, v, the attention output, the
   * FFN's hidden layer) under the backend's precision preset: 'f32' on the CPU; 'bf16' on CUDA by default,
   * 'f32' in its fp32 mode. The residual stream, layer-norm outputs and statistics, parameters, their
   * gradients, Adam's moments, backward scratch and losses are always f32.
   */
  readonly activationDType: DType;
  /**
   * Whether the linear layers of a model whose GEMMs multiply `rows` rows of `width` features should
   * read narrow copies (activationDType) of their f32 operands, written by the ops that produce them (the
   * layer norms' copies, Adam's narrow parameters): where the backend's fastest GEMM kernels want narrow
   * operands in memory. The copies hold the values the GEMMs would round the f32 operands to, so the
   * products' operands are the same either way. False on the CPU.
   */
  narrowOperands(rows: number, width: number): boolean;
  /**
   * Device memory the backend holds for itself, outside every plan: the CUDA context's own memory and
   * the backend's fixed scratch (0 on the CPU). A trial's planned peak adds it to its plan.
   */
  readonly reservedBytes: number;
  /** Releases the backend's threads, contexts and memory; no op may be called afterwards. */
  close(): void;

  // ---- memory ----

  /** Allocates one group (one allocation, views carved by `planGroup`); contents are undefined. */
  allocGroup(name: string, specs: readonly TensorSpec[]): TensorGroup;
  /** Frees a group; its tensors must not be used again. */
  freeGroup(group: TensorGroup): void;
  /** Live and peak bytes of all groups. */
  memory(): MemoryStats;
  /** Restarts peak tracking from the live bytes. */
  resetPeak(): void;
  /** Copies host data into `dst` starting at element `offset` (@default 0). */
  write(dst: Tensor, src: Float32Array | Int32Array, offset?: number): void;
  /** Copies an f32 tensor to the host, after all queued work on it. */
  readF32(src: Tensor): Promise<Float32Array>;
  /** Copies an i32 tensor to the host, after all queued work on it. */
  readI32(src: Tensor): Promise<Int32Array>;

  /**
   * Records the device work that `record` queues, for replays: one CUDA graph on the GPU (the host then
   * queues a whole step with one call); on the CPU a replay simply calls `record` again. Nothing is
   * computed by recording itself. `record` must not move data to or from the host, and whatever changes
   * from one replay to the next must live in device tensors (the batch, the step's counters:
   * RngKey.counters, NegativeParams.counters, AdamParams.counters).
   */
  recordStep(record: () => void): RecordedStep;

  // ---- concurrency ----

  /**
   * Queues the ops that `work` issues so that they may run concurrently with the ops queued after this
   * call (on CUDA: on a second stream, after everything queued before the fork; a recorded step keeps
   * both branches). Until `join`, no op queued after the fork may write a tensor that `work` reads or
   * writes, nor read one that it writes. `work` must not fork, move data to or from the host, or record.
   * Backends without concurrency run `work` at once. Every fork is joined before the step's recording
   * ends and before the next host read. `options.lane` picks the side stream (ForkOptions).
   */
  fork(work: () => void, options?: ForkOptions): Forked;
  /** Makes every op queued after this call wait for the work of `forked` (each fork is joined once). */
  join(forked: Forked): void;

  // ---- elementwise ----

  /** out[0..n) = value (f32, bf16 or i32). */
  fill(out: Tensor, value: number, n: number): void;
  /** out[0..n) = x[0..n), converting between f32 and bf16 as the two dtypes say (rounding to nearest even). */
  copy(out: Tensor, x: Tensor, n: number): void;
  /** y[0..n) (+=) alpha · x[0..n) (f32): e.g. the epoch's loss sum, kept on the device. */
  axpy(y: Tensor, x: Tensor, alpha: number, n: number): void;
  /** out = a + b over n elements; out may alias a or b; 0 on `padding` rows (a and b not read there). */
  add(out: Tensor, a: Tensor, b: Tensor, n: number, padding?: PaddingRows): void;
  /** out[r] = x[first + r·stride] for r < rows, rows of `cols` elements (e.g. each sequence's last position). */
  sliceRows(out: Tensor, x: Tensor, rows: number, first: number, stride: number, cols: number): void;
  /**
   * out[b, :] = x[row of sequence b's last position, :] for b < B (`layout`), rows of `cols` elements; an
   * empty sequence gets a row of zeros. Evaluation's scored rows.
   */
  lastRows(out: Tensor, x: Tensor, layout: SequenceRows, B: number, cols: number): void;
  /** out[r, :] = ids[r] ≠ 0 ? x[r, :] : 0 over N rows of d; forward and backward alike; out may alias x. */
  maskPadded(out: Tensor, x: Tensor, ids: Tensor, rows: number, cols: number): void;
  /**
   * out = x · keep / (1 - p) with keep = (u ≥ p), u from the key; backward is the same call on gradients;
   * out may alias x; 0 on `padding` rows.
   */
  dropout(out: Tensor, x: Tensor, n: number, drop: DropoutSpec, padding?: PaddingRows): void;
  /** out = max(x, 0); out may alias x. */
  reluForward(out: Tensor, x: Tensor, n: number): void;
  /** dx = dout · (out > 0), with `out` the forward output; dx may alias dout. */
  reluBackward(dx: Tensor, dout: Tensor, out: Tensor, n: number): void;

  // ---- embeddings ----

  /**
   * out[r, :] = scale · items[ids[r], :] + positions[t, :] for every row r that `layout` gives a
   * sequence's position t (B sequences of L positions); rows no sequence owns are left as they are (the
   * models zero them with the dropout that follows, given the padding rows).
   */
  embedForward(
    out: Tensor, ids: Tensor, items: Tensor, positions: Tensor, scale: number, layout: SequenceRows, B: number, L: number, d: number,
  ): void;
  /**
   * The scratch `embedBackward` needs for up to `rows` ids over a catalogue of V items (the CUDA backend
   * groups rows by id so that each item's sum has a fixed order); may be empty.
   */
  embeddingWorkspace(rows: number, V: number): readonly TensorSpec[];
  /**
   * dItems[ids[r], :] (+=) scale · dout[r, :] over the rows whose id is not 0, and dPositions[t, :] (+=)
   * Σ_b dout[row of sequence b's position t, :] over the sequences that hold position t (`layout`):
   * padding adds nothing (the gradient of the embedding followed by the padding mask, which is what the
   * models take), so row 0 of dItems is left as it is and the cost follows the items present.
   * Deterministic: each sum is taken in a fixed order.
   */
  embedBackward(
    dItems: Tensor, dPositions: Tensor, workspace: TensorLookup,
    dout: Tensor, ids: Tensor, scale: number, layout: SequenceRows, B: number, L: number, V: number, d: number,
    options?: EmbedBackwardOptions,
  ): void;
  /**
   * The part of embedBackward that reads only the ids: groups `rows` rows by id (ids 1..V) into
   * `workspace` (Ops.embeddingWorkspace), for a later embedBackward with options.grouped over the same
   * ids. It depends on nothing the forward computes, so a training step may run it beside the forward.
   * Backends whose embedBackward needs no grouping do nothing.
   */
  embedGroupRows(workspace: TensorLookup, ids: Tensor, rows: number, V: number): void;

  // ---- dense ----

  /** out[m × n] = alpha · op(a)[m × k] · op(b)[k × n] (+ bias[n] on every row) (or += with `accumulate`). */
  matmul(out: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number, options?: MatmulOptions): void;
  /** out[r, :] += bias over `rows` rows of `cols` (in place); rows whose `ids` entry is 0 are left as they are. */
  biasAdd(out: Tensor, bias: Tensor, rows: number, cols: number, ids?: Tensor): void;
  /** dBias (+=) Σ_r dout[r, :] over the rows whose `ids` entry is not 0 (every row without ids). */
  biasBackward(dBias: Tensor, dout: Tensor, rows: number, cols: number, ids?: Tensor): void;
  /**
   * out = (x - mean) · rstd · weight + bias per row; writes mean[rows] and rstd[rows] for backward.
   * out may not alias x. A row whose `ids` entry is 0 gets out = 0 and mean = rstd = 0. `copies`:
   * narrow copies of out and x written as well (LayerNormCopies).
   */
  layerNormForward(
    out: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, weight: Tensor, bias: Tensor, rows: number, cols: number, eps: number, ids?: Tensor,
    copies?: LayerNormCopies,
  ): void;
  /**
   * dx (+=, or = with `options.overwrite`) the input gradient of dout (+ options.dout2); dWeight (+=),
   * dBias (+=). A row whose `ids` entry is 0 reads neither gradient, adds nothing to dWeight and dBias
   * and leaves its dx as it is (writes 0 with `overwrite`).
   */
  layerNormBackward(
    dx: Tensor, dWeight: Tensor, dBias: Tensor,
    dout: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, ids?: Tensor, options?: LayerNormBackwardOptions,
  ): void;

  // ---- attention ----

  /**
   * What one attention call saves for its backward, for up to B sequences: the backend's choice (CPU:
   * the probabilities [B × H × L × L]; CUDA: the log-sum-exp of every score row [B × H × L], flash style,
   * and the padding keys' gradient partials).
   */
  attentionWorkspace(B: number, L: number, H: number, hd: number): readonly TensorSpec[];
  /**
   * Multi-head scaled dot-product attention over B sequences of L positions, H heads of width hd
   * (head h owns columns h·hd..(h+1)·hd of q, k, v and out, all [rows × H·hd], the sequences' positions
   * at the rows `mask.layout` gives). Sequence b's padding is its positions i < start_b = L − len_b.
   * P[b, h, i, j] = softmax_j(q_i · k_j / sqrt(hd)) over the keys j that row i sees: j ≤ i when causal
   * (else all j), and j ≥ start_b when keyPadding; without keyPadding a padding key j < start_b has key
   * mask.padKeys.k and value mask.padKeys.v (it has no row). out_i = Σ_j dropout(P)[i, j] · v_j,
   * dropout on the probabilities with its element index the flat index ((b·H + h)·L + i)·L + j (sequence
   * coordinates, whatever the layout). Only the sequences' rows of out are written (padding positions
   * have no query: nothing is computed for them). Fills `saved` (attentionWorkspace's tensors).
   */
  attentionForward(
    out: Tensor, saved: TensorLookup,
    q: Tensor, k: Tensor, v: Tensor,
    B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
  ): void;
  /**
   * Evaluation's attention of each sequence's last position only (the row it scores): out[b] (overwrite) =
   * position L − 1 of sequence b of attentionForward's out without dropout, with q[b] that position's
   * query. q and out are [B × H·hd] (one row per sequence); k, v and `mask` as attentionForward's. The
   * row sees every key (causal or not), from start_b on with keyPadding; an empty sequence gets 0.
   * Saves nothing: no backward follows.
   */
  attentionLastForward(out: Tensor, q: Tensor, k: Tensor, v: Tensor, B: number, L: number, H: number, hd: number, mask: AttentionMask): void;
  /**
   * dq, dk, dv (overwrite) on the sequences' rows from dout (read on those rows only) and what forward
   * saved (the dropout mask is regenerated); without keyPadding, the padding keys' gradients summed over
   * every padding key of every sequence are added to mask.padKeys.dk and .dv (+=), which are then required.
   */
  attentionBackward(
    dq: Tensor, dk: Tensor, dv: Tensor,
    dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, saved: TensorLookup,
    B: number, L: number, H: number, hd: number, mask: AttentionMask, drop: DropoutSpec,
  ): void;

  // ---- optimiser ----

  /** One Adam step over n elements: m, v and param updated in place from grad. */
  adamStep(param: Tensor, m: Tensor, v: Tensor, grad: Tensor, n: number, hp: AdamParams): void;

  // ---- losses ----

  /**
   * The workspace one loss evaluation needs (saved between forward and backward); allocate it once.
   * A gradientFilter may add buffers (cce on the GPU): plan with the filter the loss will run with.
   */
  lossWorkspace(params: Pick<LossParams, 'kind' | 'negatives' | 'gradientFilter' | 'sce'>, dims: LossDims): readonly TensorSpec[];
  /**
   * loss[0] = the loss of `params` (a mean over valid rows; 0 when there are none), from hidden states
   * h [N × d], the item table [(V+1) × d] and targets [N] i32 (0 = padding position). Fills `workspace`.
   */
  lossForward(loss: Tensor, workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor, dims: LossDims, params: LossParams): void;
  /**
   * After `lossForward` with the same arguments: dH (overwrite) and dTable (+=) of dLoss · loss.
   * Padding rows get dH = 0; row 0 of dTable is never touched. With options.tableBeside a backend may
   * fork the table gradient (as Ops.fork) and return that fork, which the caller joins before it touches
   * dTable or writes h, table or the workspace; null when everything is done in order.
   */
  lossBackward(
    dH: Tensor, dTable: Tensor,
    workspace: TensorGroup, h: Tensor, table: Tensor, targets: Tensor,
    dims: LossDims, params: LossParams, dLoss: number, options?: LossBackwardOptions,
  ): Forked | null;

  // ---- evaluation ----

  /** scores[B × (V+1)] = h[B × d] · tableᵀ, with column 0 (padding) set to -Infinity. */
  scoreItems(scores: Tensor, h: Tensor, table: Tensor, B: number, V: number, d: number): void;
  /**
   * Top K item ids per row of scores [B × (V+1)], best first (backend/cpu/topk.ts's contract), into
   * rows rowStart..rowStart+B-1 of outItems [users × K] (so a whole evaluation is read once): item 0
   * is never selected; row b skips the items of history row `rowStart + b` of the CSR pair
   * (historyOffsets [users + 1] i32, historyItems i32); ties go to the lower item id; NaN ranks last;
   * rows with fewer than K eligible items pad with 0. May overwrite `scores`. `rowStart` may be an i32
   * [1] tensor holding it, read when the op runs (a recorded evaluation replays with each batch's); rows
   * past outItems' users are then left out.
   */
  topK(
    outItems: Tensor, scores: Tensor, historyOffsets: Tensor, historyItems: Tensor,
    rowStart: number | Tensor, B: number, V: number, K: number,
  ): void;
}
