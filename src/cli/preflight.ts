/**
 * Checks before a run starts any trial: every trainer can be started and every data file the built-in
 * trainer will read exists. A problem here is a usage error (exit code 2) found once, instead of a
 * failure of every attempt of every trial found one at a time.
 */
import { statSync } from 'node:fs';
import { trainerProblem } from '../scheduler/trainer-command.js';
import type { TrainerSpec } from '../sweep/canonical.js';
import { getPath } from '../sweep/config-paths.js';
import { UsageError } from './cli-error.js';

/** What preflight needs of a trial. */
export interface PreflightTrial {
  readonly trainer: TrainerSpec;
  readonly config: Readonly<Record<string, unknown>>;
}

/** Throws a `UsageError` for the first trainer that cannot start or data file that is missing. */
export function preflight(trials: readonly PreflightTrial[]): void {
  const problem = trainerProblem(trials.map((t) => t.trainer));
  if (problem !== null) throw new UsageError(problem);
  const files = new Set<string>();
  for (const t of trials) {
    // External trainers' sections are their own: only the built-in trainer's dataset.path is known to be a file.
    const path = t.trainer === 'builtin' ? getPath(t.config, 'dataset.path') : undefined;
    if (typeof path === 'string') files.add(path);
  }
  for (const file of files) {
    let ok: boolean;
    try {
      ok = statSync(file).isFile();
    } catch {
      ok = false;
    }
    if (!ok) throw new UsageError(`dataset.path: ${file}: no such file`);
  }
}
