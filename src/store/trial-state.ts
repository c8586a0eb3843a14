/**
 * Trial states and every rule about them, in one place: the allowed transitions (one table),
 * `isFinished`, which states count against a sweep's exit code, and what `grid resume` does with each.
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

/**
 * What `grid resume` does with a trial whose last attempt ended in each state: run it again
 * (`always`), only with its flag (oom ones only with `--retry-oom`: with the same memory they would
 * fail again), or `never` (completed is done).
 */
export const RESUME_POLICY: Readonly<Record<AttemptEnd, 'always' | 'never' | RetryFlag>> = {
  completed: 'never',
  pruned: 'retry-pruned',
  failed: 'retry-failed',
  oom: 'retry-oom',
  timeout: 'retry-timeout',
  interrupted: 'always',
};

/** The states `grid resume` puts back to pending, given the retry flags it was called with. */
export function resumedStates(flags: ReadonlySet<RetryFlag>): AttemptEnd[] {
  return (Object.entries(RESUME_POLICY) as [AttemptEnd, (typeof RESUME_POLICY)[AttemptEnd]][])
    .filter(([, policy]) => policy === 'always' || (policy !== 'never' && flags.has(policy)))
    .map(([state]) => state);
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
 * A finished trial is not run again by `resume` unless asked (`--retry-failed` for failed ones, and so
 * on: `RESUME_POLICY`).
 */
export function isFinished(state: TrialState): boolean {
  return state === 'completed' || state === 'pruned' || state === 'failed' || state === 'oom' || state === 'timeout';
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
