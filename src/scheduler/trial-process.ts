/**
 * One trainer child: spawned without a shell in its own process group, stdin closed, stdout and stderr
 * appended to the attempt's log, protocol events read from fd 3. Watches the trial and stall timeouts
 * and stops the whole group (SIGTERM, then SIGKILL after the grace) when one fires or when asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { openLogForAppend } from '../store/trial-files.js';
import { EVENTS_FD, EVENTS_FD_ENV, parseEvent, PROTOCOL_VERSION, TRIAL_ENV, type TrainerEvent } from '../trainer/protocol.js';
import { setLongTimeout, type LongTimeout } from '../util/long-timeout.js';
import { EventLineSplitter, MAX_EVENT_LINE_BYTES } from './event-lines.js';

/** How long events may still arrive after the child's exit. */
const DRAIN_MS = 2000;

/**
 * A stall timeout that fires this late was not watching: the orchestrator itself was paused (SIGSTOP,
 * Ctrl-Z, a suspended machine) or blocked, and the child's events wait unread in the pipe. The child
 * then gets a fresh stall period instead of being killed for the orchestrator's silence.
 */
const PAUSED_LATE_MS = 1000;

/**
 * Why the orchestrator stopped a child (null when it ended by itself): `too_big` when its planned peak
 * exceeds its GPU's memory, `no_room` when it does not fit next to the trials running there now,
 * `probed` when only its hello was wanted (`grid plan --memory`), `pruned` when the sweep's pruner
 * judged it hopeless after its latest epoch.
 */
export type StopReason = 'trial_timeout' | 'stall' | 'interrupt' | 'protocol' | 'too_big' | 'no_room' | 'probed' | 'pruned';

/** How a child ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stopReason: StopReason | null;
  /** The spawn failure, protocol violation or reason to stop, in words. */
  readonly problem: string | null;
  /** The last `result` and `error` events seen. */
  readonly result: Extract<TrainerEvent, { type: 'result' }> | null;
  readonly error: Extract<TrainerEvent, { type: 'error' }> | null;
}

/** Options of `TrialProcess.start`. */
export interface TrialProcessOptions {
  /** Program and arguments. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Path of the trial file (GRID_TRIAL). */
  readonly trialFile: string;
  /** The log file stdout and stderr are appended to. */
  readonly logFile: string;
  /** Wall-clock limit; undefined for none. */
  readonly trialTimeoutMs: number | undefined;
  /** Longest silence (no event at all) before the child counts as stalled. */
  readonly stallTimeoutMs: number;
  /** SIGTERM → SIGKILL grace. */
  readonly killGraceMs: number;
  /** Every valid event, as it arrives (after the process's own bookkeeping). */
  readonly onEvent: (event: TrainerEvent) => void;
}

/** A running trainer child. */
export class TrialProcess {
  /** The child's pid, which is also its process group id; undefined when the spawn failed. */
  readonly pid: number | undefined;
  /** Settles once the child has exited and its event stream is drained; never rejects. */
  readonly exited: Promise<ChildExit>;
  readonly #child: ChildProcess;
  readonly #options: TrialProcessOptions;
  #stopReason: StopReason | null = null;
  #problem: string | null = null;
  #result: ChildExit['result'] = null;
  #error: ChildExit['error'] = null;
  #stallTimer: LongTimeout | undefined;
  #killTimer: LongTimeout | undefined;
  /** Set when the child has exited: a stop is then too late to change how it ended. */
  #exited = false;
  /** Set once the exit is reported: later lines (from an escaped grandchild) are ignored. */
  #closed = false;

  private constructor(options: TrialProcessOptions) {
    this.#options = options;
    const log = openLogForAppend(options.logFile);
    try {
      const [program, ...args] = options.argv as [string, ...string[]];
      this.#child = spawn(program, args, {
        detached: true,
        shell: false,
        stdio: ['ignore', log, log, 'pipe'],
        env: { ...options.env, [TRIAL_ENV]: options.trialFile, [EVENTS_FD_ENV]: String(EVENTS_FD) },
      });
    } finally {
      closeSync(log);
    }
    this.pid = this.#child.pid;
    this.exited = this.#watch();
  }

  /** Spawns the child described by `options`. */
  static start(options: TrialProcessOptions): TrialProcess {
    return new TrialProcess(options);
  }

  /**
   * Stops the child's process group: SIGTERM then SIGKILL after the grace, or SIGKILL at once when
   * `hard`. The first reason given (and its words, if any) is the one reported.
   */
  stop(reason: StopReason, hard = false, problem?: string): void {
    if (this.#exited) return;
    if (this.#stopReason === null) {
      this.#stopReason = reason;
      if (problem !== undefined) this.#problem = problem;
    }
    if (hard) {
      this.#signal('SIGKILL');
      return;
    }
    if (this.#killTimer !== undefined) return;
    this.#signal('SIGTERM');
    this.#killTimer = setLongTimeout(() => this.#signal('SIGKILL'), this.#options.killGraceMs);
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  #armStall(): void {
    this.#stallTimer?.cancel();
    if (this.#exited) return;
    this.#stallTimer = setLongTimeout((lateMs) => (lateMs > PAUSED_LATE_MS ? this.#armStall() : this.stop('stall')), this.#options.stallTimeoutMs);
  }

  #handleLine(line: string): void {
    if (line.trim() === '' || this.#closed || this.#stopReason === 'protocol') return;
    this.#armStall();
    let event: TrainerEvent;
    try {
      event = parseEvent(line);
      if (event.type === 'hello' && event.protocol !== PROTOCOL_VERSION) {
        throw new Error(`trainer speaks protocol ${event.protocol}, this gridrec speaks ${PROTOCOL_VERSION}`);
      }
    } catch (err) {
      this.stop('protocol', false, `protocol violation: ${(err as Error).message}`);
      return;
    }
    if (event.type === 'result') this.#result = event;
    if (event.type === 'error') this.#error = event;
    this.#options.onEvent(event);
  }

  async #watch(): Promise<ChildExit> {
    const child = this.#child;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', (err) => {
        this.#problem = `cannot start ${this.#options.argv[0] ?? ''}: ${err.message}`;
        resolve({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const events = child.stdio[EVENTS_FD] as Readable | null;
    const drained = events === null ? Promise.resolve() : this.#read(events);
    this.#armStall();
    const wall =
      this.#options.trialTimeoutMs === undefined ? undefined : setLongTimeout(() => this.stop('trial_timeout'), this.#options.trialTimeoutMs);
    const { code, signal } = await exit;
    this.#exited = true;
    wall?.cancel();
    this.#stallTimer?.cancel();
    this.#killTimer?.cancel();
    // Whatever the child left behind in its group (helpers holding fd 3) goes with it.
    this.#signal('SIGKILL');
    // A process that left the group could hold fd 3 open forever; its events no longer count.
    let late: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (late = setTimeout(resolve, DRAIN_MS)))]);
    clearTimeout(late);
    this.#closed = true;
    // Our end of the pipe is closed, or the open handle would keep `grid run` from ever exiting.
    events?.destroy();
    return { code, signal, stopReason: this.#stopReason, problem: this.#problem, result: this.#result, error: this.#error };
  }

  /** Reads the event stream to its end (or until it is destroyed), line by line under the length cap. */
  #read(stream: Readable): Promise<void> {
    const lines = new EventLineSplitter(
      (line) => this.#handleLine(line),
      (bytes) => this.stop('protocol', false, `protocol violation: an event line of more than ${MAX_EVENT_LINE_BYTES} bytes (${bytes} so far)`),
    );
    return new Promise((resolve) => {
      stream.on('data', (chunk: Buffer) => lines.push(chunk));
      stream.once('end', () => {
        lines.end();
        resolve();
      });
      // A reset pipe ends the stream like EOF; the exit status tells what happened.
      stream.once('error', () => resolve());
      stream.once('close', () => resolve());
    });
  }
}
