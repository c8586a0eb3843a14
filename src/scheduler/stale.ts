/**
 * Stale claims: running attempts whose orchestrator is gone (its pid is dead on this host, or its
 * heartbeat in runs.db is older than twice its interval). `grid resume` ends them as interrupted (or
 * as pruned, where the pruner had already decided to stop them), kills what is left of their
 * children, and puts the interrupted ones back to pending.
 */
import { readFileSync } from 'node:fs';
import type { RunningAttempt, Store } from '../store/store.js';
import { attemptFiles } from '../store/trial-files.js';
import { TRIAL_ENV } from '../trainer/protocol.js';

/**
 * Whether a pid is alive (EPERM means alive, owned by someone else). A zombie is dead: an orphan whose
 * new parent does not reap it (PID 1 in some containers) stays a zombie indefinitely.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat is "pid (comm) state ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Why a running attempt is stale, or null while its orchestrator is alive and beating. */
export function staleReason(a: RunningAttempt, host: string): string | null {
  if (a.host === host && !pidAlive(a.pid)) return `its orchestrator (pid ${a.pid}) is gone`;
  const grace = 2 * a.heartbeatIntervalS;
  if (a.heartbeatAgeS > grace) return `no heartbeat for ${Math.round(a.heartbeatAgeS)} s (grace ${grace} s)`;
  return null;
}

/**
 * Ends the stale attempts among the running ones (of a sweep, if named) and returns their trial ids:
 * as pruned when a pruning decision to stop the attempt is recorded (the orchestrator died before it
 * could end it), else as interrupted. A claim another process settles first is left alone.
 */
export async function reclaimStale(store: Store, host: string, sweep?: string): Promise<string[]> {
  const reclaimed: string[] = [];
  for (const a of await store.runningAttempts(sweep)) {
    const reason = staleReason(a, host);
    if (reason === null) continue;
    if (a.host === host && a.childPid !== null) killOrphan(a.childPid, attemptFiles(store.path, a.trialId, a.attempt).trialFile);
    const pruned = (await store.listDecisions({ trialId: a.trialId })).find((d) => d.attempt === a.attempt && d.action === 'prune');
    const outcome = pruned === undefined ? { state: 'interrupted' as const, error: `stale: ${reason}` } : { state: 'pruned' as const, error: pruned.reason };
    // The store checks the lease again as it ends the attempt: a heartbeat since the read keeps it.
    const ownerGone = a.host === host && !pidAlive(a.pid);
    if (await store.expire(a.trialId, a.attempt, outcome, ownerGone)) reclaimed.push(a.trialId);
  }
  return reclaimed;
}

/**
 * Kills the process group of a child that outlived its orchestrator, but only after making sure the
 * pid still belongs to that child (its environment names this attempt's trial file): a pid may have
 * been reused. Where /proc is missing the child is left to notice its closed event pipe.
 */
function killOrphan(pid: number, trialFile: string): void {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return;
  }
  if (!environ.split('\0').includes(`${TRIAL_ENV}=${trialFile}`)) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone in the meantime.
  }
}
