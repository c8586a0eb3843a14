/**
 * The loss kinds, once: their names as the trainer config spells them and what each one is. The config
 * (and through it the orchestrator's grid checks and schema), the loss layer and both backends read
 * this table; none restates a list of kinds. It imports nothing, so `grid` can load it without any
 * training code (the boundary of trainer/protocol.ts).
 *
 * ops.ts LossParams defines every loss exactly. In short: ce and cce are one loss (softmax over the
 * catalogue) computed two ways, as are ce- and cce- (softmax over the positive and n sampled, log-Q
 * corrected negatives); bce is the one-vs-all sigmoid over the catalogue, bce+ the sigmoid over the
 * positive and n negatives, and gbce bce+ with the positive's term weighted by gSASRec's β. A "materialised" loss holds its logits in its workspace; a "streamed" one
 * never holds a logits matrix of its shape (what users sweep: the memory of ce against cce).
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
}

/** Every loss kind, in the order the config lists them. */
export const LOSS_KINDS = {
  ce: {
    sampled: false,
    link: 'softmax',
    logits: 'materialised',
    twin: 'cce',
    holds: 'the logits [N × V] (CUDA: [N × (V+1)] in the activation dtype, overwritten by the gradient)',
  },
  'ce-': {
    sampled: true,
    link: 'softmax',
    logits: 'materialised',
    twin: 'cce-',
    holds: 'the negatives [N × n] i32 and logits [N × (n+1)] (CUDA: plus the entries sorted by item for a deterministic table gradient)',
  },
  cce: {
    sampled: false,
    link: 'softmax',
    logits: 'streamed',
    twin: 'ce',
    holds: 'the log-sum-exp [N] and tiles of logits (CUDA: also the row gradient [N × d])',
  },
  'cce-': {
    sampled: true,
    link: 'softmax',
    logits: 'streamed',
    twin: 'ce-',
    holds: 'one row of negatives and logits at a time (CUDA: the log-sum-exp [N], row gradient [N × d], and the draws grouped by item)',
  },
  bce: {
    sampled: false,
    link: 'sigmoid',
    logits: 'materialised',
    twin: null,
    holds: 'the logits [N × V] (CUDA: [N × (V+1)] in the activation dtype, overwritten by the gradient)',
  },
  'bce+': {
    sampled: true,
    link: 'sigmoid',
    logits: 'streamed',
    twin: null,
    holds: 'on CUDA the row loss [N], row gradient [N × d] and the draws grouped by item; the CPU reference holds negatives [N × n] and logits [N × (n+1)] as for ce-',
  },
  gbce: {
    sampled: true,
    link: 'sigmoid',
    logits: 'streamed',
    twin: null,
    holds: 'as bce+ (CPU only for now: negatives [N × n] and logits [N × (n+1)])',
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
