/**
 * Progress of a running sweep. On a terminal: a live block, one line per running trial (epoch, step,
 * latest value of the objective) and a totals line, redrawn in place under the permanent lines (starts
 * are not printed, ends are). Elsewhere (a pipe, a log file): plain lines, one per start, epoch and end.
 */
import type { SchedulerEvent } from '../scheduler/scheduler.js';
import type { AttemptEnd } from '../store/trial-state.js';
import { formatNumber, sanitise, shortId } from './format.js';

/** Options of a `Progress`. */
export interface ProgressOptions {
  readonly stream: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };
  /** Trials this run may start. */
  readonly total: number;
  /** The metric shown for each epoch. */
  readonly metric: string;
  /** A short description of a trial (its varying config values). */
  readonly label: (trialId: string) => string;
  /** Live redrawing. @default stream.isTTY */
  readonly live?: boolean;
}

interface Running {
  readonly label: string;
  readonly attempt: number;
  readonly slot: string;
  epoch: number;
  step: number;
  steps: number;
  value: number | undefined;
}

/** Minimum time between two redraws of the live block. */
const REDRAW_MS = 100;

/** Renders scheduler events. */
export class Progress {
  readonly #o: ProgressOptions;
  readonly #live: boolean;
  readonly #running = new Map<string, Running>();
  readonly #ended: Partial<Record<AttemptEnd, number>> = {};
  /** Trials already warned about a missing objective. */
  readonly #warned = new Set<string>();
  #drawn = 0;
  #lastDraw = 0;
  #pendingDraw: NodeJS.Timeout | undefined;

  constructor(options: ProgressOptions) {
    this.#o = options;
    this.#live = options.live ?? options.stream.isTTY === true;
  }

  /** Takes one scheduler event. */
  onEvent(e: SchedulerEvent): void {
    switch (e.type) {
      case 'start':
        this.#running.set(e.trial.id, { label: this.#o.label(e.trial.id), attempt: e.attempt, slot: e.slot.label, epoch: 0, step: 0, steps: 0, value: undefined });
        if (!this.#live) this.#line(`start     ${shortId(e.trial.id)} #${e.attempt} on ${e.slot.label}  ${this.#o.label(e.trial.id)}`);
        break;
      case 'progress': {
        const r = this.#running.get(e.trialId);
        if (r !== undefined) Object.assign(r, { epoch: e.epoch, step: e.step, steps: e.steps });
        break;
      }
      case 'epoch': {
        this.#checkObjective(e.trialId, e.epoch.metrics);
        const r = this.#running.get(e.trialId);
        const value = this.#value(e.epoch.metrics, e.epoch.train_loss);
        if (r !== undefined) Object.assign(r, { epoch: e.epoch.epoch, value });
        if (!this.#live) {
          this.#line(`epoch     ${shortId(e.trialId)} ${e.epoch.epoch}  ${this.#o.metric}=${formatNumber(value)} loss=${formatNumber(e.epoch.train_loss)} ${formatNumber(e.epoch.epoch_seconds)}s`);
        }
        break;
      }
      case 'end': {
        this.#running.delete(e.trialId);
        if (!e.retry) this.#ended[e.outcome.state] = (this.#ended[e.outcome.state] ?? 0) + 1;
        const why = e.outcome.error == null ? '' : `: ${e.outcome.error}`;
        this.#line(`${e.outcome.state.padEnd(9)} ${shortId(e.trialId)} #${e.attempt}  ${this.#o.label(e.trialId)}${why}${e.retry ? ' (retrying)' : ''}`);
        break;
      }
      case 'skip':
        this.#line(`skipped   ${shortId(e.trialId)}: ${e.reason}`);
        break;
    }
    this.#schedule();
  }

  /** Prints a permanent line (above the live block). */
  say(message: string): void {
    this.#line(message);
  }

  /** Removes the live block; call once at the end. */
  finish(): void {
    clearTimeout(this.#pendingDraw);
    this.#erase();
  }

  /** The sweep's totals in one line. */
  totals(): string {
    const done = Object.values(this.#ended).reduce((a, b) => a + b, 0);
    const parts = Object.entries(this.#ended).map(([s, n]) => `${n} ${s}`);
    const waiting = Math.max(0, this.#o.total - done - this.#running.size);
    return `${done}/${this.#o.total} done${parts.length > 0 ? ` (${parts.join(', ')})` : ''}, ${this.#running.size} running, ${waiting} waiting`;
  }

  /**
   * A trainer that never reports the sweep's objective would rank last without a word: warn at its
   * first epoch without it (once per trial).
   */
  #checkObjective(trialId: string, metrics: Readonly<Record<string, number>>): void {
    const metric = this.#o.metric;
    if (metric === 'loss' || metric in metrics || this.#warned.has(trialId)) return;
    this.#warned.add(trialId);
    const names = Object.keys(metrics);
    this.#line(`warning: trial ${shortId(trialId)} reports no ${metric}, the sweep's objective (it reports ${names.length > 0 ? names.join(', ') : 'no metric'}); it ranks last unless it does`);
  }

  #value(metrics: Readonly<Record<string, number>>, loss: number): number {
    const v = this.#o.metric === 'loss' ? loss : metrics[this.#o.metric];
    return typeof v === 'number' ? v : Number.NaN;
  }

  #line(text: string): void {
    this.#erase();
    this.#o.stream.write(`${sanitise(text.trimEnd())}\n`);
    this.#draw();
  }

  #schedule(): void {
    if (!this.#live || this.#pendingDraw !== undefined) return;
    const wait = Math.max(0, this.#lastDraw + REDRAW_MS - Date.now());
    this.#pendingDraw = setTimeout(() => {
      this.#pendingDraw = undefined;
      this.#erase();
      this.#draw();
    }, wait);
    this.#pendingDraw.unref();
  }

  #erase(): void {
    if (!this.#live || this.#drawn === 0) return;
    this.#o.stream.write(`\x1b[${this.#drawn}A\x1b[J`);
    this.#drawn = 0;
  }

  #draw(): void {
    if (!this.#live) return;
    const width = Math.max(40, (this.#o.stream.columns ?? 120) - 1);
    const lines = [...this.#running.entries()].map(([id, r]) => {
      const step = r.steps > 0 ? ` step ${r.step}/${r.steps}` : '';
      const value = r.value === undefined ? '' : `  ${this.#o.metric} ${formatNumber(r.value)}`;
      const where = r.epoch === 0 && r.steps === 0 ? 'starting' : `epoch ${r.epoch}${step}`;
      return sanitise(`  ${shortId(id)} #${r.attempt} ${r.slot}  ${where}${value}  ${r.label}`).slice(0, width);
    });
    lines.push(this.totals().slice(0, width));
    this.#o.stream.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
    this.#lastDraw = Date.now();
  }
}
