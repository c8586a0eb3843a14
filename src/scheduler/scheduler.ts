/**
 * The scheduler: a p-queue of trials over the device slots. Each trial is claimed in the store (a lost
 * claim is skipped, not an error), run as a child, its events recorded as they arrive, and its outcome
 * written through the store's one funnel, whatever happens. What is retried within the run is the
 * retry policy's (store/trial-state.ts: failed attempts, up to the limit). On GPUs, each trial's planned peak (from its hello)
 * is admitted by gpu-memory.ts. With a pruner, each epoch is judged as it arrives (against the store's
 * standings at that moment: every worker's epochs) and a trial judged
 * hopeless is stopped (SIGTERM, SIGKILL after the kill grace) and ends pruned. `drain` stops
 * launching; `abort` also kills.
 */
import { hostname } from 'node:os';
import PQueue from 'p-queue';
import type { TrainerSpec } from '../sweep/canonical.js';
import type { Limits, Objective } from '../sweep/grid-file.js';
import type { AttemptOutcome, Claim, NewPruneDecision, Store, TrialRecord } from '../store/store.js';
import { StoreError } from '../store/store-error.js';
import { attemptFiles, prepareAttemptFiles } from '../store/trial-files.js';
import { AttemptBudget, type AttemptEnd } from '../store/trial-state.js';
import { readTail } from '../util/file-tail.js';
import { PROTOCOL_VERSION, type EpochEvent, type TrainerEvent, type TrialFile } from '../trainer/protocol.js';
import { classify } from './classify.js';
import type { Slot } from './devices.js';
import { GpuMemoryBook } from './gpu-memory.js';
import type { Pruner } from './pruner.js';
import { TrialProcess } from './trial-process.js';

/** What the scheduler reports as it goes (for progress display). */
export type SchedulerEvent =
  | { readonly type: 'start'; readonly trial: TrialRecord; readonly attempt: number; readonly slot: Slot }
  | { readonly type: 'progress'; readonly trialId: string; readonly epoch: number; readonly step: number; readonly steps: number }
  | { readonly type: 'epoch'; readonly trialId: string; readonly attempt: number; readonly epoch: EpochEvent }
  | { readonly type: 'end'; readonly trialId: string; readonly attempt: number; readonly outcome: AttemptOutcome; readonly retry: boolean }
  | { readonly type: 'skip'; readonly trialId: string; readonly reason: string };

/** Options of a `Scheduler`. */
export interface SchedulerOptions {
  readonly store: Store;
  /** The database file (attempt logs live next to it). */
  readonly dbPath: string;
  readonly slots: readonly Slot[];
  readonly limits: Limits;
  /** The sweep's objective, told to each trainer in its trial file. */
  readonly objective?: Objective;
  /** Program and arguments that start a trainer. */
  readonly trainerArgv: (trainer: TrainerSpec) => readonly string[];
  readonly onEvent?: (event: SchedulerEvent) => void;
  /** Recorded on each attempt, with this process's pid. @default os.hostname() */
  readonly host?: string;
  /** Judges every epoch and says which trials to stop. @default none: no trial is pruned */
  readonly pruner?: Pruner | null;
  /** How often a worker with nothing to claim but trials running looks again. @default 2000 */
  readonly pollMs?: number;
}

/**
 * Where a worker's trials come from: claimed one at a time from the store (`Store.claimNext`), rather
 * than from a list known in advance.
 */
export interface TrialSource {
  /** Claims the next trial to run, or null when none can be claimed now. */
  next(claim: Claim): Promise<{ readonly trial: TrialRecord; readonly attempt: number } | null>;
}

/** What a run did. */
export interface RunSummary {
  /** Trials by the state their last attempt of this run ended in. */
  readonly ended: Readonly<Partial<Record<AttemptEnd, number>>>;
  /** Trials another orchestrator had claimed, or that were no longer pending. */
  readonly skipped: number;
  /** Trials never started because the run was stopped. */
  readonly notStarted: number;
  readonly stopped: 'drain' | 'abort' | null;
}

/** Longest child heartbeat interval; shorter when the stall timeout is short. */
const MAX_HEARTBEAT_S = 10;
const LOG_TAIL_BYTES = 64 * 1024;

/** Whether a store error is the database refusing a row's values (a constraint, a type, a size), not the database failing. */
function rowRefused(err: unknown): boolean {
  return err instanceof StoreError && err.rowRefused;
}

/** Runs trials on slots; one instance per `grid run` or `grid resume`. */
export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #host: string;
  /** Seconds between heartbeats, of the children (events) and of this orchestrator (runs.db). */
  readonly #heartbeatS: number;
  readonly #running = new Map<string, { trialId: string; attempt: number; proc: TrialProcess }>();
  readonly #memory = new GpuMemoryBook();
  #queue: PQueue | undefined;
  #stopping: 'drain' | 'abort' | null = null;
  #fatal: unknown;
  /** A heartbeat is in flight (a slow one, retrying a lost connection, is not stacked). */
  #beating = false;

  constructor(options: SchedulerOptions) {
    if (options.slots.length === 0) throw new Error('no device slots to run trials on');
    this.#o = options;
    this.#host = options.host ?? hostname();
    this.#heartbeatS = Math.min(MAX_HEARTBEAT_S, options.limits.stallTimeoutMs / 4000);
  }

  /** How the run is being stopped, if it is. */
  get stopping(): 'drain' | 'abort' | null {
    return this.#stopping;
  }

  /** Trials running now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Runs the trials (those still pending when their turn comes) and resolves when all are done. */
  async run(trials: readonly TrialRecord[]): Promise<RunSummary> {
    const queue = new PQueue({ concurrency: this.#o.slots.length });
    this.#queue = queue;
    const free = [...this.#o.slots];
    const final = new Map<string, AttemptEnd>();
    let started = 0;
    let skipped = 0;
    const beat = setInterval(() => void this.#beat(), this.#heartbeatS * 1000);
    try {
      for (const trial of trials) {
        void queue.add(async () => {
          started++;
          const slot = free.shift() as Slot; // concurrency = slots, so one is free
          try {
            const end = await this.#runTrial(trial, slot);
            if (end === null) skipped++;
            else final.set(trial.id, end);
          } catch (err) {
            this.#fatal ??= err;
            this.abort();
          } finally {
            free.push(slot);
          }
        });
      }
      await queue.onIdle();
    } finally {
      clearInterval(beat);
    }
    if (this.#fatal !== undefined) throw this.#fatal;
    const ended: Partial<Record<AttemptEnd, number>> = {};
    for (const s of final.values()) ended[s] = (ended[s] ?? 0) + 1;
    return { ended, skipped, notStarted: trials.length - started, stopped: this.#stopping };
  }

  /**
   * Claims trials from `source` and runs each on a free slot, until none can be claimed and none runs
   * here (or the run is stopped). Between claims that find nothing while trials run here, it looks
   * again every `pollMs` or when a slot frees.
   */
  async work(source: TrialSource): Promise<RunSummary> {
    const free = [...this.#o.slots];
    const final = new Map<string, AttemptEnd>();
    const active = new Set<Promise<void>>();
    let wake: () => void = () => undefined;
    const woken = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));
    const beat = setInterval(() => void this.#beat(), this.#heartbeatS * 1000);
    try {
      while (this.#stopping === null) {
        const slot = free[0];
        if (slot === undefined) {
          await woken();
          continue;
        }
        const claimed = await source.next(this.#claimFor(slot));
        if (claimed === null) {
          if (active.size === 0) break;
          const poll = this.#o.pollMs ?? 2000;
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([woken(), new Promise<void>((resolve) => (timer = setTimeout(resolve, poll)))]);
          clearTimeout(timer);
          continue;
        }
        free.shift();
        const runOne = async (): Promise<void> => {
          try {
            const end = await this.#runTrial(claimed.trial, slot, claimed.attempt);
            if (end !== null) final.set(claimed.trial.id, end);
          } catch (err) {
            this.#fatal ??= err;
            this.abort();
          }
        };
        const task: Promise<void> = runOne().finally(() => {
          free.push(slot);
          active.delete(task);
          wake();
        });
        active.add(task);
      }
    } catch (err) {
      // A claim that failed for good (the database lost past the retry window) stops the worker.
      this.#fatal ??= err;
      this.abort();
    } finally {
      await Promise.all(active);
      clearInterval(beat);
    }
    if (this.#fatal !== undefined) throw this.#fatal;
    const ended: Partial<Record<AttemptEnd, number>> = {};
    for (const s of final.values()) ended[s] = (ended[s] ?? 0) + 1;
    return { ended, skipped: 0, notStarted: 0, stopped: this.#stopping };
  }

  /** Stops launching trials; running ones finish. Pending trials stay pending for `grid resume`. */
  drain(): void {
    this.#stopping ??= 'drain';
    this.#queue?.clear();
  }

  /** Stops launching and kills every running trial's process group; they end interrupted. */
  abort(): void {
    this.#stopping = 'abort';
    this.#queue?.clear();
    for (const r of this.#running.values()) r.proc.stop('interrupt', true);
  }

  /**
   * Claims and runs one trial, running it again as long as its `AttemptBudget` says (failed attempts
   * up to the limit; deferred ones, no room on the GPU yet, once a trial there has ended); null when
   * it was not ours to run.
   */
  async #runTrial(trial: TrialRecord, slot: Slot, claimed?: number): Promise<AttemptEnd | null> {
    const budget = new AttemptBudget(this.#o.limits.maxAttempts);
    for (let first = claimed; ; first = undefined) {
      if (first === undefined && this.#stopping !== null) return null;
      const attempt = first ?? (await this.#o.store.claim(trial.id, this.#claimFor(slot)));
      if (attempt === false) {
        this.#emit({ type: 'skip', trialId: trial.id, reason: 'not pending any more (claimed elsewhere or finished)' });
        return null;
      }
      this.#emit({ type: 'start', trial, attempt, slot });
      const { outcome, deferred } = await this.#attempt(trial, attempt, slot);
      const retry = budget.again(outcome.state, deferred) && this.#stopping === null && (await this.#o.store.requeue(trial.id, [outcome.state]));
      this.#emit({ type: 'end', trialId: trial.id, attempt, outcome, retry });
      if (!retry) return outcome.state;
      if (deferred && slot.gpu !== undefined) await this.#memory.freed(slot.gpu);
    }
  }

  /**
   * One attempt, from trial file to recorded outcome; the outcome is written whatever happens.
   * `deferred`: stopped at its hello because its GPU had no room for it next to the running trials.
   */
  async #attempt(trial: TrialRecord, attempt: number, slot: Slot): Promise<{ outcome: AttemptOutcome; deferred: boolean }> {
    const { store, limits } = this.#o;
    const files = attemptFiles(this.#o.dbPath, trial.id, attempt);
    const key = `${trial.id}/${attempt}`;
    let outcome: AttemptOutcome = { state: 'failed', error: 'orchestrator: the attempt did not start' };
    let deferred = false;
    /** The recorded reason once the pruner stopped this attempt. */
    let pruned: string | null = null;
    // The attempt's writes, in the order its events came: the store is asynchronous, and an epoch must
    // not overtake the hello nor the outcome overtake an epoch.
    let writes: Promise<void> = Promise.resolve();
    const write = (fn: () => Promise<void>): void => {
      writes = writes.then(fn);
    };
    try {
      const trialFile: TrialFile = {
        protocol: PROTOCOL_VERSION,
        trial_id: trial.id,
        attempt,
        config: trial.config as Record<string, unknown>,
        device: slot.device,
        workdir: files.workdir,
        heartbeat_interval_s: this.#heartbeatS,
        ...(this.#o.objective !== undefined ? { objective: this.#o.objective } : {}),
      };
      prepareAttemptFiles(files, `${JSON.stringify(trialFile, null, 2)}\n`);
      const proc: TrialProcess = TrialProcess.start({
        argv: this.#o.trainerArgv(trial.trainer),
        env: { ...process.env, ...slot.env },
        trialFile: files.trialFile,
        logFile: files.log,
        trialTimeoutMs: limits.trialTimeoutMs,
        stallTimeoutMs: limits.stallTimeoutMs,
        killGraceMs: limits.killGraceMs,
        onEvent: (event) => {
          write(async () => {
            // An epoch that raced the SIGTERM is not recorded: a pruned attempt's rows end at the epoch judged.
            if (pruned !== null && event.type === 'epoch') return;
            const decision = await this.#record(trial.id, attempt, event, (why) => proc.stop('protocol', false, why));
            if (decision?.action === 'prune') {
              pruned = decision.reason;
              proc.stop('pruned', false, decision.reason);
            }
          });
          if (event.type !== 'hello') return;
          const admission = this.#memory.admit(key, slot, event.planned_peak_bytes);
          if (admission.verdict !== 'fits') proc.stop(admission.verdict === 'never' ? 'too_big' : 'no_room', true, admission.reason);
        },
      });
      this.#running.set(key, { trialId: trial.id, attempt, proc });
      const childPid = proc.pid;
      if (childPid !== undefined) write(() => store.setChildPid(trial.id, attempt, childPid));
      if (this.#stopping === 'abort') proc.stop('interrupt', true);
      const exit = await proc.exited;
      deferred = exit.stopReason === 'no_room';
      outcome = classify(exit, {
        external: trial.trainer !== 'builtin',
        logTail: () => readTail(files.log, LOG_TAIL_BYTES),
        trialTimeoutMs: limits.trialTimeoutMs,
        stallTimeoutMs: limits.stallTimeoutMs,
      });
      // The decision is recorded, so it stands even where the child ended first (its last epoch judged
      // as it sent its result) or otherwise during the grace.
      if (pruned !== null) outcome = { exitCode: exit.code, signal: exit.signal, state: 'pruned', error: pruned };
    } catch (err) {
      outcome = { state: 'failed', error: `orchestrator: ${(err as Error).message}` };
      throw err;
    } finally {
      this.#running.delete(key);
      try {
        await writes;
        await store.finishAttempt(trial.id, attempt, outcome);
      } finally {
        // Only once the outcome is recorded: a trial deferred for this one's memory starts after it ended.
        this.#memory.release(key);
      }
    }
    return { outcome, deferred };
  }

  /**
   * Stores an event as it arrives, and for an epoch the pruner's decision about it, which it returns.
   * A row the database refuses (parseEvent checks every field, so this is a last line of defence)
   * fails that trial through `reject`; any other store failure stops the whole run, since nothing
   * could be recorded.
   */
  async #record(trialId: string, attempt: number, event: TrainerEvent, reject: (why: string) => void): Promise<NewPruneDecision | null> {
    try {
      switch (event.type) {
        case 'hello':
          await this.#o.store.recordInfo(trialId, attempt, {
            trainer: event.trainer,
            version: event.version,
            deviceName: event.device_name,
            plannedPeakBytes: event.planned_peak_bytes ?? null,
          });
          break;
        case 'epoch': {
          const fresh = await this.#o.store.recordEpoch({
            trialId,
            attempt,
            epoch: event.epoch,
            trainLoss: event.train_loss,
            metrics: event.metrics,
            epochSeconds: event.epoch_seconds,
            peakBytes: event.peak_bytes,
            tokensPerSecond: event.tokens_per_second,
          });
          this.#emit({ type: 'epoch', trialId, attempt, epoch: event });
          // A repeated epoch was judged when it first came.
          const pruner = this.#o.pruner;
          if (!fresh || pruner == null) return null;
          // Judged against what the store holds now, this epoch included: the epochs other workers
          // stored since this one started count, and any machine decides the same from the same rows.
          const query = pruner.query(trialId, event.epoch);
          const standings = query === null ? undefined : await this.#o.store.standings(query);
          const decision = pruner.observe(trialId, attempt, { epoch: event.epoch, trainLoss: event.train_loss, metrics: event.metrics }, standings);
          if (decision !== null) await this.#o.store.recordDecision(decision);
          return decision;
        }
        case 'progress':
          this.#emit({ type: 'progress', trialId, epoch: event.epoch, step: event.step, steps: event.steps });
          break;
        case 'heartbeat':
        case 'result':
        case 'error':
          break;
      }
    } catch (err) {
      if (rowRefused(err)) {
        reject(`protocol violation: the ${event.type} event could not be stored (${(err as Error).message})`);
        return null;
      }
      this.#fatal ??= err;
      this.abort();
    }
    return null;
  }

  /** Who claims a trial for `slot`: this orchestrator, and the slot's device. */
  #claimFor(slot: Slot): Claim {
    const device = { ...slot.device, ...(slot.gpu !== undefined ? { gpu: slot.gpu } : {}) };
    return { host: this.#host, pid: process.pid, device, heartbeatIntervalS: this.#heartbeatS };
  }

  /**
   * Renews the leases of the running attempts; an attempt whose lease was reclaimed meanwhile (this
   * process was paused or cut off for longer than the grace) is another worker's now: its child is
   * killed, and its outcome, fenced, is not recorded.
   */
  async #beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      const lost = await this.#o.store.heartbeat([...this.#running.values()].map(({ trialId, attempt }) => ({ trialId, attempt })));
      for (const { trialId, attempt } of lost) this.#running.get(`${trialId}/${attempt}`)?.proc.stop('interrupt', true, 'lost its lease: the trial was reclaimed by another worker');
    } catch (err) {
      this.#fatal ??= err;
      this.abort();
    } finally {
      this.#beating = false;
    }
  }

  #emit(event: SchedulerEvent): void {
    this.#o.onEvent?.(event);
  }
}
