import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './fixture.js';

/** A `grid` CLI process with its output collected. */
export interface CliRun {
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches `pattern` (rejects if the process exits first). */
  waitFor(pattern: RegExp): Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

/** Starts `node dist/cli/main.js ...args` in `cwd`, without a shell. */
export function grid(cwd: string, ...args: string[]): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      if (w.pattern.test(text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const take = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    check();
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => text,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        void exited.then(() => reject(new Error(`exited before ${String(pattern)}:\n${text}`)));
      }),
    exited,
  };
}

/** Runs `grid ...args` to the end; resolves with its exit code and output. */
export async function gridDone(cwd: string, ...args: string[]): Promise<{ code: number | string; output: string }> {
  const run = grid(cwd, ...args);
  const code = await run.exited;
  return { code, output: run.output() };
}
