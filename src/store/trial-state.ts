/**
 * Trial states and every rule about them, in one place: the allowed transitions (one table),
 * `isFinished`, which states count against a sweep's exit code, and the retry policy (one table: what
 * is retried within a run, up to `limits.max_attempts`, and what `grid resume` does with each state).
 * pending → running → completed | pruned | failed | oom | timeout | interrupted; `resume` turns
 * interrupted and stale running trials into pending, and failed, timed-out, pruned or oom ones when asked.
 */

/** Every trial state, in lifecycle order. */
export const TRIAL_STATES = ['pending', 'running', 'completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted'] as const;
/** A trial's state. */
export type TrialState = (typeof TRIAL_STATES)[number];

/** The states an attempt can end in (an attempt is never pending). */
export type AttemptEnd = Exclude<TrialState, 'pending' | 'running'>;

/**
 * What each state may become; nothing leaves `completed`. `oom` goes back to pending only when asked
 * (`resume --retry-oom`, after moving to a bigger GPU): within a run, the same memory would fail again.
 */
const TRANSITIONS: Readonly<Record<TrialState, readonly TrialState[]>> = {
  pending: ['running'],
  // → pending: a stale claim (dead orchestrator) or a failed attempt retried within the same run.
  running: ['completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted', 'pending'],
  completed: [],
  pruned: ['pending'],
  failed: ['pending'],
  oom: ['pending'],
  timeout: ['pending'],
  interrupted: ['pending'],
};

/** A `grid resume` flag that puts trials of one finished state back to pending. */
export type RetryFlag = 'retry-failed' | 'retry-timeout' | 'retry-pruned' | 'retry-oom';

/** What happens to a trial after an attempt that ended in one state (a row of `RETRY_POLICY`). */
export interface RetryRule {
  /** Run it again within the same run, while the run's failures of the trial stay under `limits.max_attempts`. */
  readonly inRun: boolean;
  /** What `grid resume` does with it: run it again (`always`), only with its flag, or `never`. */
  readonly resume: 'always' | 'never' | RetryFlag;
}

/**
 * The retry policy, one row per way an attempt can end. Only a failed attempt is retried within the
 * run: an oom would fail again on the same memory, a timeout take as long again, a pruned trial was
 * stopped on purpose, and an interrupted one was stopped with its run. Afterwards `grid resume` runs
 * interrupted trials again, finished ones only with their flag (oom ones after moving to a bigger
 * GPU), and completed ones never.
 */
export const RETRY_POLICY: Readonly<Record<AttemptEnd, RetryRule>> = {
  completed: { inRun: false, resume: 'never' },
  pruned: { inRun: false, resume: 'retry-pruned' },
  failed: { inRun: true, resume: 'retry-failed' },
  oom: { inRun: false, resume: 'retry-oom' },
  timeout: { inRun: false, resume: 'retry-timeout' },
  interrupted: { inRun: false, resume: 'always' },
};

/** The states `grid resume` puts back to pending, given the retry flags it was called with. */
export function resumedStates(flags: ReadonlySet<RetryFlag>): AttemptEnd[] {
  return (Object.entries(RETRY_POLICY) as [AttemptEnd, RetryRule][])
    .filter(([, { resume }]) => resume === 'always' || (resume !== 'never' && flags.has(resume)))
    .map(([state]) => state);
}

/**
 * The attempts one trial has left within a run (`limits.max_attempts`): after each attempt, whether
 * the trial runs again. Only the outcomes `RETRY_POLICY` retries within a run count against the limit.
 * An attempt deferred for room on its GPU (stopped at its hello, before it trained) is always run
 * again, once a trial there has ended, and costs nothing.
 */
export class AttemptBudget {
  readonly #maxAttempts: number;
  /** Attempts of this run that counted against the limit. */
  #spent = 0;

  constructor(maxAttempts: number) {
    this.#maxAttempts = maxAttempts;
  }

  /** Whether to run the trial again after an attempt that ended in `state` (`deferred`: see the class). */
  again(state: AttemptEnd, deferred: boolean): boolean {
    if (deferred) return true;
    if (!RETRY_POLICY[state].inRun) return false;
    this.#spent++;
    return this.#spent < this.#maxAttempts;
  }
}

/** Whether `from` may become `to`. */
export function canTransition(from: TrialState, to: TrialState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states a trial may be in before it moves to `to` (for compare-and-set updates). */
export function sourcesOf(to: TrialState): TrialState[] {
  return TRIAL_STATES.filter((from) => canTransition(from, to));
}

/**
 * Whether a trial has an outcome that stands: no worker holds it and nothing runs it again unless
 * asked (`grid resume` with its flag: `RETRY_POLICY`). Pending, running and interrupted trials are
 * not finished.
 */
export function isFinished(state: TrialState): boolean {
  return state !== 'pending' && state !== 'running' && RETRY_POLICY[state].resume !== 'always';
}

/**
 * Whether a worker holds a trial in this state (its claim, a lease): its rows are being written, so
 * it is not rewritten, removed or merged over, and a copy of it elsewhere arrives interrupted.
 */
export function isClaimed(state: TrialState): boolean {
  return state === 'running';
}

/**
 * Whether a trial in this state did not end as the sweep meant it to: `grid run` exits 1 when any did.
 * A pruned trial was stopped on purpose, so it is not one.
 */
export function isUnsuccessful(state: TrialState): boolean {
  return state === 'failed' || state === 'oom' || state === 'timeout' || state === 'interrupted';
}

/** The states `isUnsuccessful` holds for, in lifecycle order. */
export const UNSUCCESSFUL_STATES: readonly TrialState[] = TRIAL_STATES.filter(isUnsuccessful);

/** Whether a string names a trial state. */
export function isTrialState(s: string): s is TrialState {
  return (TRIAL_STATES as readonly string[]).includes(s);
}
