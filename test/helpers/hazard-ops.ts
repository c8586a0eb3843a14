/**
 * The CPU backend behind a checker of Ops.fork's contract, for the model's fork and join schedule: every
 * op is run at once (as CpuOps does), and what it reads and writes is recorded as byte ranges of the
 * tensors' storage. While a fork is pending, an op of the main sequence that writes what the fork reads
 * or writes, or reads what it writes, is a hazard: on CUDA the two would race. Forks go to lanes as the
 * CUDA backend's streams do: Ops.fork's work in order on one lane, the loss's table gradient
 * (lossBackward with tableBeside, all kinds but sce) and Ops.fork's with lane 'second' on another; forks of different lanes are checked
 * against each other likewise. Tensors reached through a TensorLookup (workspaces, attention's saved
 * state) are not tracked.
 */
import { CpuTensor } from '../../src/backend/cpu/cpu-memory.js';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import type { AdamParams, Forked, ForkOptions, LayerNormBackwardOptions, LossBackwardOptions, LossParams, MatmulOptions, Ops } from '../../src/backend/ops.js';

/** Bytes [start, end) of one buffer. */
interface Range {
  readonly buffer: ArrayBufferLike;
  readonly start: number;
  readonly end: number;
  readonly name: string;
}

interface Access {
  readonly reads: Range[];
  readonly writes: Range[];
}

interface PendingFork extends Access {
  readonly id: number;
  readonly lane: 'side' | 'loss';
  /** The ops it ran, for the report. */
  readonly ops: string[];
}

function rangeOf(t: CpuTensor): Range {
  const d = t.data;
  return { buffer: d.buffer, start: d.byteOffset, end: d.byteOffset + d.byteLength, name: t.name };
}

function overlap(a: Range, b: Range): boolean {
  return a.buffer === b.buffer && a.start < b.end && b.start < a.end;
}

/** Every CpuTensor inside `value` (arguments, option objects, layouts), each once. */
function tensorsIn(value: unknown, out: Set<CpuTensor>, seen = new Set<unknown>()): Set<CpuTensor> {
  if (value instanceof CpuTensor) out.add(value);
  else if (value !== null && typeof value === 'object' && !seen.has(value) && !ArrayBuffer.isView(value)) {
    seen.add(value);
    for (const v of Object.values(value)) tensorsIn(v, out, seen);
  }
  return out;
}

/**
 * The tensors an op writes and those it leaves alone (neither read nor written), by its arguments;
 * every other tensor among them is read. Ops not listed write nothing the checker tracks.
 */
function writesOf(op: string, args: readonly unknown[]): { writes: unknown[]; untouched: unknown[] } {
  switch (op) {
    case 'fill': case 'copy': case 'axpy': case 'add': case 'sliceRows': case 'lastRows': case 'maskPadded': case 'dropout':
    case 'reluForward': case 'reluBackward': case 'embedForward': case 'biasAdd': case 'biasBackward': case 'attentionForward':
    case 'attentionLastForward': case 'lossForward': case 'scoreItems': case 'topK':
      return { writes: [args[0]], untouched: [] };
    case 'embedBackward':
      return { writes: [args[0], args[1]], untouched: [] };
    case 'layerNormForward':
      return { writes: [args[0], args[1], args[2], args[10]], untouched: [] };
    case 'adamStep':
      return { writes: [args[0], args[1], args[2], (args[5] as AdamParams | undefined)?.narrow], untouched: [] };
    case 'matmul': {
      const ln = (args[6] as MatmulOptions | undefined)?.epilogue?.layerNorm;
      return { writes: [args[0], ...(ln === undefined ? [] : [ln.out, ln.mean, ln.rstd, ln.copies])], untouched: [] };
    }
    case 'layerNormBackward': {
      const only = (args[11] as LayerNormBackwardOptions | undefined)?.only;
      if (only === 'params') return { writes: [args[1], args[2]], untouched: [args[0]] };
      if (only === 'input') return { writes: [args[0]], untouched: [args[1], args[2]] };
      return { writes: [args[0], args[1], args[2]], untouched: [] };
    }
    case 'attentionBackward': {
      const pad = (args[13] as { padKeys?: { dk?: unknown; dv?: unknown } } | undefined)?.padKeys;
      return { writes: [args[0], args[1], args[2], pad?.dk, pad?.dv], untouched: [] };
    }
    default:
      return { writes: [], untouched: [] };
  }
}

/** The ops that compute (their accesses are checked); the rest (memory, transfers, plans) pass through. */
const COMPUTE = new Set([
  'fill', 'copy', 'axpy', 'add', 'sliceRows', 'lastRows', 'maskPadded', 'dropout', 'reluForward', 'reluBackward', 'embedForward',
  'embedBackward', 'embedGroupRows', 'matmul', 'biasAdd', 'biasBackward', 'layerNormForward', 'layerNormBackward', 'attentionForward',
  'attentionLastForward', 'attentionBackward', 'adamStep', 'lossForward', 'scoreItems', 'topK',
]);

function accessOf(op: string, args: readonly unknown[]): Access {
  const { writes, untouched } = writesOf(op, args);
  const written = new Set<CpuTensor>();
  for (const w of writes) tensorsIn(w, written);
  const skipped = new Set<CpuTensor>();
  for (const u of untouched) tensorsIn(u, skipped);
  const reads = [...tensorsIn(args, new Set())].filter((t) => !written.has(t) && !skipped.has(t));
  return { reads: reads.map(rangeOf), writes: [...written].map(rangeOf) };
}

/** The first conflict of `a` (later) with `b` (earlier, still running), as a sentence, or null. */
function conflict(a: Access, b: Access): string | null {
  for (const w of a.writes) {
    for (const r of [...b.reads, ...b.writes]) if (overlap(w, r)) return `writes ${w.name}, which the fork ${b.reads.includes(r) ? 'reads' : 'writes'} (${r.name})`;
  }
  for (const r of a.reads) for (const w of b.writes) if (overlap(r, w)) return `reads ${r.name}, which the fork writes (${w.name})`;
  return null;
}

/** `cpu` behind the checker; `hazards` collects every conflict found (a test expects it empty). */
export function hazardOps(cpu: CpuOps): { ops: Ops; hazards: string[] } {
  const hazards: string[] = [];
  const pending = new Map<number, PendingFork>();
  let current: PendingFork | null = null;
  let next = 0;

  const check = (op: string, access: Access): void => {
    for (const fork of pending.values()) {
      // Work of one lane runs in order; the main sequence and the other lanes run beside it.
      if (current !== null && current.lane === fork.lane) continue;
      const why = conflict(access, fork);
      const who = current === null ? 'the main sequence' : `a fork on the ${current.lane} lane`;
      if (why !== null) hazards.push(`${op} in ${who} ${why} of fork ${fork.id} on the ${fork.lane} lane (${fork.ops.join(', ')})`);
    }
  };
  const record = (op: string, access: Access): void => {
    check(op, access);
    if (current !== null) {
      current.reads.push(...access.reads);
      current.writes.push(...access.writes);
      current.ops.push(op);
    }
  };
  const open = (lane: 'side' | 'loss', work: () => void): Forked => {
    if (current !== null) throw new Error('Ops.fork: work inside a fork cannot fork');
    const fork: PendingFork = { id: next++, lane, reads: [], writes: [], ops: [] };
    current = fork;
    try {
      work();
    } finally {
      current = null;
    }
    pending.set(fork.id, fork);
    return { id: fork.id };
  };

  const ops = new Proxy(cpu, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (prop === 'fork') return (work: () => void, options?: ForkOptions): Forked => open(options?.lane === 'second' ? 'loss' : 'side', work);
      if (prop === 'join') {
        return (forked: Forked): void => {
          if (!pending.delete(forked.id)) throw new Error(`Ops.join: fork ${forked.id} is not pending`);
        };
      }
      if (prop === 'lossBackward') {
        return (...args: unknown[]): Forked | null => {
          const [dH, dTable, , h, table, targets, , params, , options] = args as [unknown, unknown, unknown, unknown, unknown, unknown, unknown, LossParams, unknown, LossBackwardOptions | undefined];
          const reads = [...tensorsIn([h, table, targets], new Set())].map(rangeOf);
          if (options?.tableBeside !== true || params.kind === 'sce') {
            record('lossBackward', { reads, writes: [...tensorsIn([dH, dTable], new Set())].map(rangeOf) });
            fn(...args);
            return null;
          }
          const forked = open('loss', () => record('lossBackward (table)', { reads: [...reads], writes: [...tensorsIn(dTable, new Set())].map(rangeOf) }));
          record('lossBackward (hidden)', { reads, writes: [...tensorsIn(dH, new Set())].map(rangeOf) });
          fn(...args);
          return forked;
        };
      }
      if (prop === 'readF32' || prop === 'readI32') {
        return (...args: unknown[]): unknown => {
          if (pending.size > 0) hazards.push(`${String(prop)} with fork(s) ${[...pending.keys()].join(', ')} pending`);
          return fn(...args);
        };
      }
      if (typeof prop === 'string' && COMPUTE.has(prop)) {
        return (...args: unknown[]): unknown => {
          record(prop, accessOf(prop, args));
          return fn(...args);
        };
      }
      return fn;
    },
  }) as Ops;
  return { ops, hazards };
}
