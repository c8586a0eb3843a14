/**
 * The one error type of the `grid` command: a message for people and the exit code it ends with.
 * Errors of the layers below (a bad grid file, config value, data file or database, a file that cannot
 * be written) are translated into it in one place, `toCliError`, so every command reports them alike.
 */
import { DataError, DownloadError } from '../data/data-error.js';
import { StoreError } from '../store/store-error.js';
import { GridFileError } from '../sweep/grid-error.js';
import { ConfigError } from '../util/config-error.js';
import { YamlError } from '../util/safe-yaml.js';

/**
 * Exit codes of `grid`: 0 all well, 1 a sweep that did not finish well or a failure of the machine
 * (database, disk, network), 2 bad input (command line, grid file, config, data), 130 after an interrupt.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** An error `grid` reports as one line (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  readonly exitCode: number;

  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** A mistake in the command line (unknown sweep, ambiguous trial id, bad flag value): exit code 2. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.usage, options);
  }
}

/** Whether an error is a failed system call (it names the call, the code and usually the path). */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * The `CliError` an error of a lower layer stands for, or undefined for anything else (a bug, which
 * keeps its stack trace). Bad input is a usage error (2); the database, the network and the file
 * system failing are failures (1).
 */
export function toCliError(err: unknown): CliError | undefined {
  if (err instanceof CliError) return err;
  if (err instanceof DownloadError || err instanceof StoreError) return new CliError(err.message, EXIT.failed, { cause: err });
  if (err instanceof GridFileError || err instanceof ConfigError || err instanceof DataError || err instanceof YamlError) return new UsageError(err.message, { cause: err });
  if (isSystemError(err)) return new CliError(err.message, EXIT.failed, { cause: err });
  return undefined;
}
