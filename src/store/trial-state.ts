/**
 * Trial states, their allowed transitions (one table) and `isFinished`. README.md, "Trial states":
 * pending → running → completed | failed | oom | timeout | interrupted; `resume` turns interrupted and
 * stale running trials into pending, and failed ones with `--retry-failed`.
 */

/** Every trial state, in lifecycle order. */
export const TRIAL_STATES = ['pending', 'running', 'completed', 'failed', 'oom', 'timeout', 'interrupted'] as const;
/** A trial's state. */
export type TrialState = (typeof TRIAL_STATES)[number];

/** The states an attempt can end in (an attempt is never pending). */
export type AttemptEnd = Exclude<TrialState, 'pending' | 'running'>;

/** What each state may become; nothing leaves `completed`, and `oom` is not retried with the same memory. */
const TRANSITIONS: Readonly<Record<TrialState, readonly TrialState[]>> = {
  pending: ['running'],
  // → pending: a stale claim (dead orchestrator) or a failed attempt retried within the same run.
  running: ['completed', 'failed', 'oom', 'timeout', 'interrupted', 'pending'],
  completed: [],
  failed: ['pending'],
  oom: [],
  timeout: ['pending'],
  interrupted: ['pending'],
};

/** Whether `from` may become `to`. */
export function canTransition(from: TrialState, to: TrialState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The states a trial may be in before it moves to `to` (for compare-and-set updates). */
export function sourcesOf(to: TrialState): TrialState[] {
  return TRIAL_STATES.filter((from) => canTransition(from, to));
}

/** A finished trial is not run again by `resume` unless asked (`--retry-failed` for failed ones). */
export function isFinished(state: TrialState): boolean {
  return state === 'completed' || state === 'failed' || state === 'oom' || state === 'timeout';
}

/** Whether a string names a trial state. */
export function isTrialState(s: string): s is TrialState {
  return (TRIAL_STATES as readonly string[]).includes(s);
}
