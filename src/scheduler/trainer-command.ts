/** The program and arguments that start a trial's trainer child. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TrainerSpec } from '../sweep/canonical.js';

/** The built-in trainer's entry point, next to this module in dist/. */
export const BUILTIN_TRAINER = fileURLToPath(new URL('../trainer/main.js', import.meta.url));

/** argv of the child for a trainer: `node dist/trainer/main.js`, or the external command as written. */
export function trainerArgv(trainer: TrainerSpec): string[] {
  return trainer === 'builtin' ? [process.execPath, BUILTIN_TRAINER] : [...trainer.command];
}

/** Why one of the trainers cannot start at all (checked once before starting any), or null. */
export function trainerProblem(trainers: Iterable<TrainerSpec>): string | null {
  for (const trainer of trainers) {
    if (trainer === 'builtin' && !existsSync(BUILTIN_TRAINER)) return `the built-in trainer is not built (${BUILTIN_TRAINER} is missing; run \`npm run build\`)`;
  }
  return null;
}
