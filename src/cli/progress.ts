/**
 * Progress of a running sweep. On a terminal: a live block, one line per running trial (epoch, step,
 * latest value of the objective), the best value so far and a totals line with the elapsed time and an
 * estimate of the time left, redrawn in place under the permanent lines (starts are not printed, ends
 * are, coloured by state). The block never grows past the terminal's height: a cursor cannot move above
 * the top row, so a taller block could not be erased. Elsewhere (a pipe, a log file): plain lines, one
 * per start, epoch and end, without colours.
 */
import type { SchedulerEvent } from '../scheduler/scheduler.js';
import type { AttemptEnd } from '../store/trial-state.js';
import { colourWanted, painter, STATE_COLOUR, type Colour } from './colour.js';
import { formatNumber, sanitise, shortId } from './format.js';

/** Options of a `Progress`. */
export interface ProgressOptions {
  readonly stream: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number; readonly rows?: number };
  /** Trials this run may start. */
  readonly total: number;
  /** The metric shown for each epoch. */
  readonly metric: string;
  /** Which values of `metric` are better (for the best so far). @default 'min' for loss, else 'max' */
  readonly direction?: 'max' | 'min';
  /** A short description of a trial (its varying config values). */
  readonly label: (trialId: string) => string;
  /** Live redrawing. @default stream.isTTY */
  readonly live?: boolean;
  /** Colours by state. @default on a terminal unless NO_COLOR is set (`colourWanted`) */
  readonly colour?: boolean;
  /** The clock, in milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** The best value of the objective seen so far, and where. */
interface Best {
  readonly value: number;
  readonly trialId: string;
  readonly epoch: number;
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

/** Terminal size assumed when the stream does not say. */
const DEFAULT_COLUMNS = 120;
const DEFAULT_ROWS = 24;

/** Renders scheduler events. */
export class Progress {
  readonly #o: ProgressOptions;
  readonly #live: boolean;
  readonly #paint: (colour: Colour, text: string) => string;
  readonly #now: () => number;
  readonly #started: number;
  #best: Best | undefined;
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
    this.#paint = painter(options.colour ?? colourWanted(options.stream));
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
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
        this.#noteBest(value, e.trialId, e.epoch.epoch);
        if (!this.#live) {
          this.#line(`epoch     ${shortId(e.trialId)} ${e.epoch.epoch}  ${this.#o.metric}=${formatNumber(value)} loss=${formatNumber(e.epoch.train_loss)} ${formatNumber(e.epoch.epoch_seconds)}s`);
        }
        break;
      }
      case 'end': {
        this.#running.delete(e.trialId);
        if (!e.retry) this.#ended[e.outcome.state] = (this.#ended[e.outcome.state] ?? 0) + 1;
        const why = e.outcome.error == null ? '' : `: ${e.outcome.error}`;
        const state = this.#paint(STATE_COLOUR[e.outcome.state], e.outcome.state.padEnd(9));
        const retrying = e.retry ? ` ${this.#paint('yellow', '(retrying)')}` : '';
        this.#write(`${state} ${sanitise(`${shortId(e.trialId)} #${e.attempt}  ${this.#o.label(e.trialId)}${why}`.trimEnd())}${retrying}`);
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

  /** The best value of the objective so far: `ndcg@10 0.0521 (trial aaaaaaaa, epoch 3)`, or undefined. */
  best(): string | undefined {
    const b = this.#best;
    return b === undefined ? undefined : `${this.#o.metric} ${formatNumber(b.value)} (trial ${shortId(b.trialId)}, epoch ${b.epoch})`;
  }

  /**
   * Time since the run started and an estimate of the time left, from the rate at which trials ended
   * so far: `1m05s elapsed, about 2m10s left` (no estimate before the first trial ends).
   */
  timing(): string {
    const elapsed = this.#now() - this.#started;
    const done = this.#done();
    const left = Math.max(0, this.#o.total - done);
    const eta = done > 0 && left > 0 ? `, about ${formatClock((elapsed / done) * left)} left` : '';
    return `${formatClock(elapsed)} elapsed${eta}`;
  }

  /** The sweep's totals in one line. */
  totals(): string {
    const done = this.#done();
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
    this.#write(`${this.#paint('yellow', 'warning:')} ${sanitise(`trial ${shortId(trialId)} reports no ${metric}, the sweep's objective (it reports ${names.length > 0 ? names.join(', ') : 'no metric'}); it ranks last unless it does`)}`);
  }

  #done(): number {
    return Object.values(this.#ended).reduce((a, b) => a + b, 0);
  }

  #noteBest(value: number, trialId: string, epoch: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.#best;
    const direction = this.#o.direction ?? (this.#o.metric === 'loss' ? 'min' : 'max');
    const better = b === undefined || (direction === 'min' ? value < b.value : value > b.value);
    if (better) this.#best = { value, trialId, epoch };
  }

  #value(metrics: Readonly<Record<string, number>>, loss: number): number {
    const v = this.#o.metric === 'loss' ? loss : metrics[this.#o.metric];
    return typeof v === 'number' ? v : Number.NaN;
  }

  /** Prints text from anywhere (trainers, configs) as a permanent line, shown but never obeyed. */
  #line(text: string): void {
    this.#write(sanitise(text.trimEnd()));
  }

  /** Prints a permanent line whose text is already safe for a terminal. */
  #write(safe: string): void {
    this.#erase();
    this.#o.stream.write(`${safe}\n`);
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

  /**
   * The live block: the running trials, the best so far, and the totals with the timing, clipped to the
   * terminal's width and height (at least the totals line; when the trials do not fit, as many as do and
   * a line counting the others).
   */
  #draw(): void {
    if (!this.#live) return;
    const stream = this.#o.stream;
    const width = Math.max(40, (stream.columns ?? DEFAULT_COLUMNS) - 1);
    // One row stays free for the cursor, below the block.
    const height = Math.max(1, (stream.rows ?? DEFAULT_ROWS) - 1);
    const clip = (text: string): string => sanitise(text).slice(0, width);
    const best = this.best();
    const footer = [...(best === undefined ? [] : [this.#paint('bold', clip(`  best so far: ${best}`))]), clip(`${this.totals()}; ${this.timing()}`)];
    const room = Math.max(0, height - footer.length);
    const running = [...this.#running.entries()];
    const shown = running.length <= room ? running : running.slice(0, Math.max(0, room - 1));
    const lines = shown.map(([id, r]) => {
      const step = r.steps > 0 ? ` step ${r.step}/${r.steps}` : '';
      const value = r.value === undefined ? '' : `  ${this.#o.metric} ${formatNumber(r.value)}`;
      const where = r.epoch === 0 && r.steps === 0 ? 'starting' : `epoch ${r.epoch}${step}`;
      return clip(`  ${shortId(id)} #${r.attempt} ${r.slot}  ${where}${value}  ${r.label}`);
    });
    if (shown.length < running.length && room > 0) lines.push(clip(`  … and ${running.length - shown.length} more running`));
    lines.push(...footer.slice(-height));
    stream.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
    this.#lastDraw = Date.now();
  }
}

/** A duration on a clock's precision: `45s`, `1m05s`, `2h03m`. */
export function formatClock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
}
