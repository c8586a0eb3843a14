/** The program and arguments that start a trial's trainer child, and the check that they can start. */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainerSpec } from '../sweep/canonical.js';

/** The built-in trainer's entry point, next to this module in dist/. */
export const BUILTIN_TRAINER = fileURLToPath(new URL('../trainer/main.js', import.meta.url));

/** argv of the child for a trainer: `node dist/trainer/main.js`, or the external command as written. */
export function trainerArgv(trainer: TrainerSpec): string[] {
  return trainer === 'builtin' ? [process.execPath, BUILTIN_TRAINER] : [...trainer.command];
}

/**
 * Why one of the trainers cannot start at all, or null. Checked once before any trial starts, so that
 * a missing program is a usage error at once instead of a failure of every attempt.
 */
export function trainerProblem(trainers: Iterable<TrainerSpec>): string | null {
  const seen = new Set<string>();
  for (const trainer of trainers) {
    if (trainer === 'builtin') {
      if (!existsSync(BUILTIN_TRAINER)) return `the built-in trainer is not built (${BUILTIN_TRAINER} is missing; run \`npm run build\`)`;
      continue;
    }
    const program = trainer.command[0] as string;
    if (seen.has(program)) continue;
    seen.add(program);
    if (findProgram(program) === undefined) {
      const where = program.includes('/') ? `no executable file ${resolve(program)}` : 'not found on PATH';
      return `trainer.command[0]: cannot start ${JSON.stringify(program)}: ${where}`;
    }
  }
  return null;
}

/** Where a program is found as spawn (without a shell) would find it: a path as is, a bare name on PATH. */
export function findProgram(program: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = program.includes('/') ? [program] : path.split(delimiter).filter((d) => d !== '' && isAbsolute(d)).map((d) => join(d, program));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}
