/**
 * Turns how a child ended into the attempt's outcome (docs/protocol.md): the orchestrator's
 * own reason to stop it first, then the `result` and `error` events, then, for external trainers, an
 * "out of memory" in its output, then the signal or exit code.
 */
import { formatDuration } from '../sweep/duration.js';
import type { AttemptOutcome } from '../store/store.js';
import type { ChildExit } from './trial-process.js';

/** What `classify` needs beyond the exit itself. */
export interface ClassifyContext {
  /** External trainers may not speak of oom in events; their output is searched instead. */
  readonly external: boolean;
  /** The end of the attempt's log (read only when needed). */
  readonly logTail: () => string;
  readonly trialTimeoutMs: number | undefined;
  readonly stallTimeoutMs: number;
}

const OOM_TEXT = /out of memory|CUDA_ERROR_OUT_OF_MEMORY|OutOfMemoryError/i;

/** Classifies a child's exit into the state its attempt ends in, with the reason in words. */
export function classify(exit: ChildExit, ctx: ClassifyContext): AttemptOutcome {
  const status = { exitCode: exit.code, signal: exit.signal };
  switch (exit.stopReason) {
    case 'trial_timeout':
      return { ...status, state: 'timeout', error: `ran past the trial timeout (${formatDuration(ctx.trialTimeoutMs ?? 0)})` };
    case 'stall':
      return { ...status, state: 'timeout', error: `stalled: no event for ${formatDuration(ctx.stallTimeoutMs)} (stall timeout)` };
    case 'interrupt':
      return { ...status, state: 'interrupted', error: 'interrupted' };
    case 'protocol':
      return { ...status, state: 'failed', error: exit.problem };
    case 'too_big':
      return { ...status, state: 'oom', error: exit.problem };
    case 'no_room':
      return { ...status, state: 'interrupted', error: exit.problem };
    case 'probed':
      return { ...status, state: 'interrupted', error: 'stopped after its hello (memory probe)' };
    case 'pruned':
      return { ...status, state: 'pruned', error: exit.problem };
    case null:
      break;
  }
  if (exit.problem !== null) return { ...status, state: 'failed', error: exit.problem };
  if (exit.result !== null && exit.code === 0) {
    const { type: _, ...result } = exit.result;
    return { ...status, state: 'completed', result };
  }
  if (exit.error !== null) {
    return { ...status, state: exit.error.kind === 'oom' ? 'oom' : 'failed', error: `${exit.error.kind}: ${exit.error.message}` };
  }
  if (ctx.external && exit.code !== 0) {
    const line = ctx.logTail().split('\n').findLast((l) => OOM_TEXT.test(l));
    if (line !== undefined) return { ...status, state: 'oom', error: line.trim().slice(0, 500) };
  }
  const how =
    exit.signal !== null
      ? `killed by ${exit.signal}`
      : exit.code === 0
        ? 'exited with code 0 but sent no result'
        : `exited with code ${String(exit.code)}${exit.result !== null ? ' after its result' : ''}`;
  return { ...status, state: 'failed', error: how };
}
