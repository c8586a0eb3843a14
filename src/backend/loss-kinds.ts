/**
 * The loss kinds, once: their names as the trainer config spells them and what each one is. The config
 * (and through it the orchestrator's grid checks and schema), the loss layer and both backends read
 * this table; none restates a list of kinds. It imports nothing, so `grid` can load it without any
 * training code (the boundary of trainer/protocol.ts).
 *
 * ops.ts LossParams defines every loss exactly. In short: ce and cce are one loss (softmax over the
 * catalogue) computed two ways, as are ce- and cce- (softmax over the positive and n sampled, log-Q
 * corrected negatives); bce is the one-vs-all sigmoid over the catalogue, bce+ the sigmoid over the
 * positive and n negatives, and gbce bce+ with the positive's term weighted by gSASRec's β; sce (Scalable
 * Cross-Entropy, backend/sce.ts) is ce restricted, per row, to the items that random projections put in
 * a bucket with it. A "materialised" loss holds its logits in its workspace; a "streamed" one never
 * holds a logits matrix of its shape (what users sweep: the memory of ce against cce).
 *
 * A loss's own settings (gbce's t, sce's bucket sizes) are train keys listed in LOSS_PARAMS; each kind
 * names the ones it takes, and the config keeps only those (the others are inactive: not in the trial id).
 */

/** How a loss turns scores into probabilities. */
export type LossLink = 'softmax' | 'sigmoid';

/** Whether a loss holds its logits in its workspace ('materialised') or never holds them ('streamed'). */
export type LogitsMemory = 'materialised' | 'streamed';

/** What the table says of one loss kind. */
export interface LossKindInfo {
  /** Draws n negatives per position (backend/negatives.ts): takes train.negatives and train.sampling. */
  readonly sampled: boolean;
  readonly link: LossLink;
  /** Whether its logits are held, on the GPU (the CPU reference holds bce+'s too: see `holds`). */
  readonly logits: LogitsMemory;
  /** The other kind that computes the same loss the other way, or null. */
  readonly twin: string | null;
  /** What its workspace holds beyond inputs and gradients (N rows, V items, n negatives, d hidden). */
  readonly holds: string;
  /** Its own train keys (LOSS_PARAMS), beyond negatives and sampling. */
  readonly params: readonly LossParamKey[];
}

/** One train key of a loss's own settings: its type, default and range, as the config checks it. */
export interface LossParamInfo {
  readonly type: 'integer' | 'number' | 'boolean';
  readonly default: number | boolean;
  /** Smallest allowed value (integer and number). */
  readonly min?: number;
  /** Largest allowed value (integer and number). */
  readonly max?: number;
  /** What it sets, for the TSDoc of the config and the README. */
  readonly doc: string;
}

/**
 * Every loss's own train keys. Defaults: gbce's t as gSASRec; sce's as the reference study's runs (443
 * buckets of 443 rows and 512 items, mixed projections), the sizes the SCE authors derive from a batch
 * as 2·sqrt(batch × interactions per user) for ML-scale data.
 */
export const LOSS_PARAMS = {
  gbce_t: {
    type: 'number', default: 0.75, min: 0, max: 1,
    doc: "gbce's calibration t: the positive's probability is raised to β = α(t(1 − 1/α) + 1/α), α = negatives / (V − 1); 0 is bce+",
  },
  sce_buckets: {
    type: 'integer', default: 443, min: 1, max: 1 << 16,
    doc: "sce's number of buckets n_b: random projection directions, each keeping its top rows and items",
  },
  sce_bucket_rows: {
    type: 'integer', default: 443, min: 1, max: 1 << 20,
    doc: "sce's rows per bucket b_x: the batch positions with the highest projections (at most the valid positions)",
  },
  sce_bucket_items: {
    type: 'integer', default: 512, min: 1, max: 1 << 20,
    doc: "sce's items per bucket b_y: the catalogue items with the highest projections (at most V)",
  },
  sce_mix: {
    type: 'boolean', default: true,
    doc: "sce's mix: each bucket's direction is a random combination of the batch's hidden states (true) or a random Gaussian vector (false)",
  },
} as const satisfies Record<string, LossParamInfo>;

/** A loss's own train key. */
export type LossParamKey = keyof typeof LOSS_PARAMS;

/** Values of a loss's own keys: booleans for boolean keys, numbers otherwise. */
export type LossParamValues = {
  readonly [K in LossParamKey]?: (typeof LOSS_PARAMS)[K]['type'] extends 'boolean' ? boolean : number;
};

/** Every loss's own train keys, in the table's order. */
export const LOSS_PARAM_KEYS = Object.keys(LOSS_PARAMS) as readonly LossParamKey[];

/** Every loss kind, in the order the config lists them. */
export const LOSS_KINDS = {
  ce: {
    sampled: false,
    link: 'softmax',
    logits: 'materialised',
    twin: 'cce',
    holds: 'the logits [N × V] (CUDA: [N × (V+1)] in the activation dtype, overwritten by the gradient)',
    params: [],
  },
  'ce-': {
    sampled: true,
    link: 'softmax',
    logits: 'materialised',
    twin: 'cce-',
    holds: 'the negatives [N × n] i32 and logits [N × (n+1)] (CUDA: plus the entries sorted by item for a deterministic table gradient)',
    params: [],
  },
  cce: {
    sampled: false,
    link: 'softmax',
    logits: 'streamed',
    twin: 'ce',
    holds: 'the log-sum-exp [N] and tiles of logits (CUDA: also the row gradient [N × d])',
    params: [],
  },
  'cce-': {
    sampled: true,
    link: 'softmax',
    logits: 'streamed',
    twin: 'ce-',
    holds: 'one row of negatives and logits at a time (CUDA: the log-sum-exp [N], row gradient [N × d], and the draws grouped by item)',
    params: [],
  },
  bce: {
    sampled: false,
    link: 'sigmoid',
    logits: 'materialised',
    twin: null,
    holds: 'the logits [N × V] (CUDA: [N × (V+1)] in the activation dtype, overwritten by the gradient)',
    params: [],
  },
  'bce+': {
    sampled: true,
    link: 'sigmoid',
    logits: 'streamed',
    twin: null,
    holds: 'on CUDA the row loss [N], row gradient [N × d] and the draws grouped by item; the CPU reference holds negatives [N × n] and logits [N × (n+1)] as for ce-',
    params: [],
  },
  gbce: {
    sampled: true,
    link: 'sigmoid',
    logits: 'streamed',
    twin: null,
    holds: 'as bce+ (CPU only for now: negatives [N × n] and logits [N × (n+1)])',
    params: ['gbce_t'],
  },
  sce: {
    sampled: false,
    link: 'softmax',
    logits: 'streamed',
    twin: null,
    holds: 'the directions [d × n_b], each bucket\'s rows [n_b × b_x] and items [n_b × b_y], the log-sum-exp and loss of every bucket slot [n_b × b_x], each row\'s best slot [N], and one bucket\'s logits [b_x × b_y] at a time (CUDA: no logits, but the projections of a chunk of buckets, at most 128 MiB, and the item gradients [n_b·b_y × d] with their CSR by item); never [N × V]',
    params: ['sce_buckets', 'sce_bucket_rows', 'sce_bucket_items', 'sce_mix'],
  },
} as const satisfies Record<string, LossKindInfo>;

/** A loss kind, as the trainer config spells it. */
export type LossKind = keyof typeof LOSS_KINDS;

/** The kinds whose `sampled` is true: ce-, cce-, bce+, gbce. */
export type SampledLossKind = { [K in LossKind]: (typeof LOSS_KINDS)[K]['sampled'] extends true ? K : never }[LossKind];

/** The kinds that hold their logits on the GPU: ce, ce-, bce. */
export type MaterialisedLossKind = { [K in LossKind]: (typeof LOSS_KINDS)[K]['logits'] extends 'materialised' ? K : never }[LossKind];

/** Every kind, in the table's order (what the config accepts and the grid schema lists). */
export const LOSS_KIND_NAMES = Object.keys(LOSS_KINDS) as readonly LossKind[];

/** Whether `value` names a loss kind. */
export function isLossKind(value: unknown): value is LossKind {
  return typeof value === 'string' && Object.hasOwn(LOSS_KINDS, value);
}

/** Whether the kind draws negatives (takes train.negatives and train.sampling). */
export function isSampled(kind: LossKind): kind is SampledLossKind {
  return LOSS_KINDS[kind].sampled;
}

/** Whether the kind holds its logits in its workspace on the GPU. */
export function isMaterialised(kind: LossKind): kind is MaterialisedLossKind {
  return LOSS_KINDS[kind].logits === 'materialised';
}
