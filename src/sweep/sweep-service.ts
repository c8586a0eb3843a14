/**
 * The sweep service behind `grid plan`, `grid run` and `grid resume`: what a grid file adds to the
 * store, which trials a run or resume must run, and the grid file a stored sweep was run with.
 */
import type { Store, SweepRecord, TrialRecord } from '../store/store.js';
import { requeueResumable } from '../store/requeue.js';
import type { RetryFlag, TrialState } from '../store/trial-state.js';
import { expandGrid, type Expansion } from './expand.js';
import { parseGridFile, type GridFile } from './grid-file.js';

/** A grid file's expansion next to what the store already holds. */
export interface SweepPlan {
  readonly grid: GridFile;
  readonly expansion: Expansion;
  /** State of each planned trial already stored (any sweep's), by id. */
  readonly existing: ReadonlyMap<string, TrialState>;
}

/**
 * Expands a grid file (unless its expansion is given) and looks each trial up in the store (none when
 * there is no store yet).
 */
export async function planSweep(grid: GridFile, store: Store | undefined, expansion: Expansion = expandGrid(grid)): Promise<SweepPlan> {
  const stored = new Map(((await store?.listTrials()) ?? []).map((t) => [t.id, t.state]));
  const existing = new Map<string, TrialState>();
  for (const t of expansion.trials) {
    const state = stored.get(t.id);
    if (state !== undefined) existing.set(t.id, state);
  }
  return { grid, expansion, existing };
}

/** What `grid run` is about to do. */
export interface PreparedRun {
  readonly sweep: SweepRecord;
  /** Ids stored for the first time. */
  readonly added: readonly string[];
  /** The sweep's pending trials, to run. */
  readonly pending: readonly TrialRecord[];
  /** The sweep's trials by state. */
  readonly counts: Readonly<Partial<Record<TrialState, number>>>;
}

/** Saves a planned sweep (new trials as pending, existing ones linked) and lists what to run. */
export async function prepareRun(store: Store, plan: SweepPlan): Promise<PreparedRun> {
  const { grid } = plan;
  const { sweep, added } = await store.saveSweep(
    // The name is written out so that the stored document means the same without its file name.
    { name: grid.name, file: grid.file, document: { ...grid.document, name: grid.name }, objective: grid.objective },
    plan.expansion.trials,
  );
  return { sweep, added, ...(await pendingOf(store, sweep.name)) };
}

/** Options of `prepareResume`. */
export interface ResumeOptions {
  /** Also re-queue failed trials. @default false */
  readonly retryFailed?: boolean;
  /** Also re-queue timed-out trials. @default false */
  readonly retryTimeout?: boolean;
  /** Also re-queue pruned trials. @default false */
  readonly retryPruned?: boolean;
  /** Also re-queue trials that ran out of memory (after moving to a bigger GPU). @default false */
  readonly retryOom?: boolean;
}

/** What `grid resume` is about to do. */
export interface PreparedResume {
  readonly sweep: SweepRecord;
  readonly grid: GridFile;
  /** Trials put back to pending, by the state they were in. */
  readonly requeued: Readonly<Partial<Record<TrialState, number>>>;
  /** The pruned trials put back to pending (--retry-pruned): they run to the end, unpruned. */
  readonly requeuedPruned: readonly string[];
  readonly pending: readonly TrialRecord[];
  readonly counts: Readonly<Partial<Record<TrialState, number>>>;
}

/**
 * Puts a sweep's interrupted trials (stale running ones must have been reclaimed as interrupted
 * first), and failed, timed-out, pruned or oom ones when asked, back to pending; completed trials
 * stay (trial-state.ts, `RETRY_POLICY`).
 */
export async function prepareResume(store: Store, sweep: SweepRecord, options: ResumeOptions = {}): Promise<PreparedResume> {
  const grid = storedGrid(sweep);
  const flags = new Set<RetryFlag>();
  if (options.retryFailed === true) flags.add('retry-failed');
  if (options.retryTimeout === true) flags.add('retry-timeout');
  if (options.retryPruned === true) flags.add('retry-pruned');
  if (options.retryOom === true) flags.add('retry-oom');
  const requeued: Partial<Record<TrialState, number>> = {};
  const requeuedPruned: string[] = [];
  for (const t of await requeueResumable(store, sweep.name, flags)) {
    requeued[t.state] = (requeued[t.state] ?? 0) + 1;
    if (t.state === 'pruned') requeuedPruned.push(t.id);
  }
  return { sweep, grid, requeued, requeuedPruned, ...(await pendingOf(store, sweep.name)) };
}

/** The grid file a stored sweep was last run with, checked again (limits, objective, trainer). */
export function storedGrid(sweep: SweepRecord): GridFile {
  // The document is JSON, which is YAML: the same parser checks it.
  return parseGridFile(JSON.stringify(sweep.document), sweep.file ?? `sweep ${sweep.name}`);
}

/** The sweep named, or the one run last when no name is given; undefined when there is none. */
export async function findSweep(store: Store, name: string | undefined): Promise<SweepRecord | undefined> {
  return name === undefined ? (await store.listSweeps()).at(-1) : await store.getSweep(name);
}

async function pendingOf(store: Store, sweep: string): Promise<{ pending: TrialRecord[]; counts: Partial<Record<TrialState, number>> }> {
  const trials = await store.listTrials({ sweep });
  const counts: Partial<Record<TrialState, number>> = {};
  for (const t of trials) counts[t.state] = (counts[t.state] ?? 0) + 1;
  return { pending: trials.filter((t) => t.state === 'pending'), counts };
}
