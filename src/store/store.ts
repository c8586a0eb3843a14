/**
 * The store contract: everything the orchestrator keeps in runs.db, as a few primitives. Ids in,
 * plain frozen values out (never database rows). The orchestrator is the only writer; `leaderboard`,
 * `status`, `show` and `export` open the store read-only and may read while a sweep writes.
 *
 * Every primitive is asynchronous (PostgreSQL is reached over the network; SQLite answers at once).
 *
 * Concurrency: every write primitive is one transaction. State changes are compare-and-set against
 * the transition table of trial-state.ts: a primitive that loses a race (another orchestrator claimed
 * the trial first, the attempt was already finished) returns false instead of throwing.
 * Timestamps are seconds since the epoch from the database clock, so stale heartbeats are judged by
 * one clock whatever machine wrote them.
 *
 * Leases and fencing: a claim is a lease on the trial, renewed by `heartbeat` and expired once the
 * heartbeat is older than twice its interval (on the database clock). `expire` ends an attempt whose
 * lease ran out, so another worker may run the trial again. Every write about an attempt (child pid,
 * hello, epochs, decisions, outcome) is fenced by (trial, attempt): it is a no-op once that attempt no
 * longer runs, so a worker that lost its lease (a pause, a partition) cannot write over its successor.
 */
import type { Metrics } from '../metrics/metrics.js';
import type { ResultEvent, TrialDevice } from '../trainer/protocol.js';
import type { ImportCounts, TrialImport } from './sql-import.js';
import type { AttemptEnd, TrialState } from './trial-state.js';

export type { ImportCounts, TrialImport } from './sql-import.js';

/** A sweep: a named grid file as last run. */
export interface SweepRecord {
  readonly id: number;
  readonly name: string;
  /** The grid file path as given to `grid run` (null when it came from elsewhere). */
  readonly file: string | null;
  /** The grid file as parsed (plain JSON), enough to check it again on resume. */
  readonly document: Readonly<Record<string, unknown>>;
  readonly objective: { readonly metric: string; readonly direction: 'max' | 'min' };
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A trial: one canonical config and its trainer, whatever sweeps contain it. */
export interface TrialRecord {
  /** sha256 hex of the canonical config and trainer. */
  readonly id: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** "builtin" or {command: [...]}. */
  readonly trainer: 'builtin' | { readonly command: readonly string[] };
  readonly state: TrialState;
  /** Attempts started so far (the number of the latest one). */
  readonly attempts: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What the trainer said about itself in its `hello` event. */
export interface TrainerInfo {
  readonly trainer: string;
  readonly version: string;
  readonly deviceName: string;
  readonly plannedPeakBytes: number | null;
}

/** One attempt at running a trial. */
export interface AttemptRecord {
  readonly trialId: string;
  /** 1-based. */
  readonly attempt: number;
  readonly state: 'running' | AttemptEnd;
  /** The orchestrator's host name and pid. */
  readonly host: string;
  readonly pid: number;
  /** The child's pid (= its process group id) once spawned. */
  readonly childPid: number | null;
  readonly device: TrialDevice & { readonly gpu?: string };
  readonly startedAt: number;
  readonly heartbeatAt: number;
  readonly heartbeatIntervalS: number;
  readonly finishedAt: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Why it did not complete, in words. */
  readonly error: string | null;
  readonly result: Omit<ResultEvent, 'type'> | null;
  readonly info: TrainerInfo | null;
}

/** One epoch of one attempt, as the trainer reported it. */
export interface EpochRecord {
  readonly trialId: string;
  readonly attempt: number;
  readonly epoch: number;
  /** NaN where training diverged. */
  readonly trainLoss: number;
  /** Validation metrics. */
  readonly metrics: Metrics;
  readonly epochSeconds: number;
  readonly peakBytes: number;
  readonly tokensPerSecond: number;
}

/** A trial of a planned sweep, to be saved. */
export interface NewTrial {
  readonly id: string;
  /** The canonical config (keys already sorted: it is stored as given). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly trainer: TrialRecord['trainer'];
}

/** A sweep to be saved (created, or updated when its name exists). */
export interface NewSweep {
  readonly name: string;
  readonly file: string | null;
  readonly document: Readonly<Record<string, unknown>>;
  readonly objective: SweepRecord['objective'];
}

/** Who takes a trial and where it will run. */
export interface Claim {
  readonly host: string;
  readonly pid: number;
  readonly device: AttemptRecord['device'];
  readonly heartbeatIntervalS: number;
}

/** How an attempt ended. */
export interface AttemptOutcome {
  readonly state: AttemptEnd;
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  readonly error?: string | null;
  readonly result?: Omit<ResultEvent, 'type'> | null;
}

/** A running attempt with the age of its heartbeat on the database clock. */
export interface RunningAttempt extends AttemptRecord {
  /** Seconds since the last heartbeat. */
  readonly heartbeatAgeS: number;
  /** The last epoch it recorded, or null before its first. */
  readonly lastEpoch: number | null;
}

/** A completed or pruned trial's latest attempt that ended in its state, its epochs summarised against one metric. */
export interface RankedAttempt {
  readonly trialId: string;
  readonly attempt: number;
  /** The trial's state, which its attempt ended in. */
  readonly state: 'completed' | 'pruned';
  readonly result: AttemptRecord['result'];
  /** The epoch with the best value of the metric asked for (ties: the earliest); null when none has it. */
  readonly best: EpochRecord | null;
  /** 0 when it recorded no epoch. */
  readonly lastEpoch: number;
  /** The largest `peak_bytes` of its epochs (0 without epochs). */
  readonly peakBytes: number;
  /** Mean of its epochs' seconds; NaN without epochs. */
  readonly secondsPerEpoch: number;
  /** The metric names its last epoch reported. */
  readonly metricNames: readonly string[];
}

/** A pruning rule of a grid file's `pruner` section. */
export type PruneRule = 'median' | 'asha';

/**
 * One decision of a sweep's pruner about one epoch of one attempt, with the evidence it was taken on,
 * so that a user can audit it: decisions depend on what other trials had reported at that moment.
 */
export interface NewPruneDecision {
  readonly trialId: string;
  readonly attempt: number;
  readonly epoch: number;
  /** The sweep whose pruner decided (by name). */
  readonly sweep: string;
  readonly rule: PruneRule;
  readonly action: 'continue' | 'prune';
  /** The objective judged by, as the sweep had it then. */
  readonly metric: string;
  readonly direction: 'max' | 'min';
  /** The trial's best objective over its epochs up to `epoch`; NaN when it reported none. */
  readonly value: number;
  /** What it had to reach (median: the others' median; asha: the last value kept at the rung); NaN when none. */
  readonly threshold: number;
  /** asha: the rung (0 at min_epochs, 1 at min_epochs·η, …); null for median. */
  readonly rung: number | null;
  /** The group_by values the trial competed within ({} without group_by). */
  readonly group: Readonly<Record<string, unknown>>;
  /** The other trials compared, each with its best objective up to `epoch` (NaN: none reported). */
  readonly compared: readonly { readonly trialId: string; readonly value: number }[];
  /** The decision in words. */
  readonly reason: string;
}

/** Which trials a pruning decision compares: those of `sweep` that reached `epoch`, judged by a metric. */
export interface StandingsQuery {
  readonly sweep: string;
  /** A validation metric, or "loss" (the training loss). */
  readonly metric: string;
  readonly direction: 'max' | 'min';
  readonly epoch: number;
}

/** A trial that reached the epoch asked for, with its best objective value up to it (NaN: none reported). */
export interface Standing {
  readonly trialId: string;
  readonly value: number;
}

/** A stored pruning decision. */
export interface PruneDecision extends NewPruneDecision {
  /** Database clock, seconds since the epoch. */
  readonly decidedAt: number;
}

/** What `Store.remove` deleted, counted by kind of row. */
export interface Removed {
  /** 1 when a sweep was removed, else 0. */
  readonly sweeps: number;
  /** The trials removed, by id (running ones are never removed). */
  readonly trialIds: readonly string[];
  readonly attempts: number;
  readonly epochs: number;
  readonly decisions: number;
}

/** Which trials a query returns. */
export interface TrialFilter {
  /** Only trials linked to this sweep (by name). */
  readonly sweep?: string;
  readonly states?: readonly TrialState[];
}

/** The store primitives. Every method throws `StoreError` when the database cannot be used at all. */
export interface Store {
  /** The database file. */
  readonly path: string;
  readonly readOnly: boolean;
  close(): Promise<void>;

  /**
   * Creates or updates the sweep named `sweep.name` and links it to exactly `trials`, in order
   * (replacing the links of an earlier version), inserting as pending those not yet stored: any
   * sweep's trial is reused by id and keeps its state and rows (its config takes the new spelling,
   * e.g. its data file's current path, unless it is running). Returns the sweep and the new ids.
   */
  saveSweep(sweep: NewSweep, trials: readonly NewTrial[]): Promise<{ sweep: SweepRecord; added: string[] }>;
  /**
   * Claims a pending trial: it becomes running with a new attempt whose heartbeat starts now.
   * Returns the attempt number, or false when the trial was not pending (lost race, already done).
   */
  claim(trialId: string, claim: Claim): Promise<number | false>;
  /**
   * Claims the first pending trial (in link order) of the sweeps named, or of any sweep, in one short
   * transaction; concurrent claimers skip each other's rows. Null when none is pending.
   */
  claimNext(sweeps: readonly string[] | undefined, claim: Claim): Promise<{ trial: TrialRecord; attempt: number } | null>;
  /** Records the child's pid on a running attempt. */
  setChildPid(trialId: string, attempt: number, pid: number): Promise<void>;
  /**
   * Renews the leases of running attempts (the orchestrator is alive and watching them); returns those
   * it no longer holds (expired and reclaimed elsewhere): their children should be stopped.
   */
  heartbeat(attempts: readonly { trialId: string; attempt: number }[]): Promise<{ trialId: string; attempt: number }[]>;
  /** Records the trainer's hello. */
  recordInfo(trialId: string, attempt: number, info: TrainerInfo): Promise<void>;
  /** Records one epoch; returns false when that attempt already has that epoch (nothing is doubled) or no longer runs. */
  recordEpoch(epoch: EpochRecord): Promise<boolean>;
  /**
   * Ends a running attempt and moves its trial to the same state, in one transaction: the single
   * funnel of every outcome. Returns false when the attempt was no longer running.
   */
  finishAttempt(trialId: string, attempt: number, outcome: AttemptOutcome): Promise<boolean>;
  /**
   * Ends a running attempt as `finishAttempt` does, but only if its lease has expired on the database
   * clock or `ownerGone` (the caller saw its orchestrator's pid dead on this host); false otherwise.
   */
  expire(trialId: string, attempt: number, outcome: AttemptOutcome, ownerGone: boolean): Promise<boolean>;
  /** Records a pruning decision; returns false when that epoch of that attempt already has one. */
  recordDecision(decision: NewPruneDecision): Promise<boolean>;
  /**
   * Deletes, in one transaction, the sweep named `target.sweep` (its row, its links and the decisions
   * its pruner took) if given, and the trials `target.trialIds` with everything recorded about them
   * (links to every sweep, attempts, epochs, pruning decisions). A trial that is running is kept: an
   * orchestrator is writing to it. The attempt files on disk are the caller's (trial-files.ts).
   */
  remove(target: { readonly sweep?: string; readonly trialIds: readonly string[] }): Promise<Removed>;
  /** `grid merge`: creates a sweep of another store unless one of its name exists; true when created. */
  importSweep(sweep: SweepRecord): Promise<boolean>;
  /** `grid merge`: links trials (already stored) to a sweep after its own, in order; linked ones stay. */
  linkTrials(sweep: string, trialIds: readonly string[]): Promise<void>;
  /**
   * `grid merge`: imports a trial of another store with its attempts, epochs and decisions, in one
   * transaction, without duplicates (an attempt is known by host, pid and start time); a trial running
   * here is left alone. Importing the same records again changes nothing.
   */
  importTrial(records: TrialImport): Promise<ImportCounts>;
  /** Puts a trial back to pending if it is in one of `from`; false otherwise. */
  requeue(trialId: string, from: readonly TrialState[]): Promise<boolean>;

  /** The database clock, seconds since the epoch. */
  now(): Promise<number>;
  listSweeps(): Promise<SweepRecord[]>;
  getSweep(name: string): Promise<SweepRecord | undefined>;
  /** Trials in link order for a sweep, else in creation order. */
  listTrials(filter?: TrialFilter): Promise<TrialRecord[]>;
  /** Trials whose id starts with `prefix`. */
  findTrials(prefix: string): Promise<TrialRecord[]>;
  /** Attempts of one trial, or of every trial of a sweep; in (trial, attempt) order. */
  listAttempts(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<AttemptRecord[]>;
  /** Names of the sweeps a trial belongs to. */
  sweepsOf(trialId: string): Promise<string[]>;
  /** Running attempts (of one sweep's trials, if named) with their heartbeat age. */
  runningAttempts(sweep?: string): Promise<RunningAttempt[]>;
  /** Epochs of one trial, or of every trial of a sweep; in (trial, attempt, epoch) order. */
  listEpochs(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<EpochRecord[]>;
  /**
   * For each trial (of a sweep, if named) whose state is one of `states`, its latest attempt that ended
   * in that state, its epochs summarised in the database against `metric` ("loss" = training loss) in
   * `direction`; in trial id order. Read commands rank from these and never load every epoch.
   */
  rankedAttempts(filter: { readonly sweep?: string }, metric: string, direction: 'max' | 'min', states?: readonly RankedAttempt['state'][]): Promise<RankedAttempt[]>;
  /** Trials (of a sweep, if named) counted by state. */
  countByState(sweep?: string): Promise<Partial<Record<TrialState, number>>>;
  /**
   * The trials of a sweep that reached an epoch (an epoch ≥ it in any attempt), each with its best
   * objective value over its epochs up to it, each epoch as the latest attempt that reported it has it;
   * in trial id order. Read afresh for each pruning decision, so that the epochs of every worker count.
   */
  standings(query: StandingsQuery): Promise<Standing[]>;
  /** Pruning decisions about one trial, or taken by one sweep's pruner; in the order they were taken. */
  listDecisions(filter: { readonly trialId?: string; readonly sweep?: string }): Promise<PruneDecision[]>;
}
