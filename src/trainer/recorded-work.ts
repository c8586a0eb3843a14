/**
 * Device work queued many times with the same ops on the same tensors (a training step, a full
 * evaluation batch), replayed from one recording (Ops.recordStep) so that the host queues it with one call.
 */
import type { Ops, RecordedStep } from '../backend/ops.js';

/** One piece of recorded work: what it is (`what`, `plural`) names it on the log where recording fails. */
export class RecordedWork {
  readonly #what: string;
  readonly #plural: string;
  #recorded: RecordedStep | null = null;
  #runs = 0;
  #failed = false;

  /** `what`: e.g. "the training step"; `plural`: "steps". */
  constructor(what: string, plural: string) {
    this.#what = what;
    this.#plural = plural;
  }

  /**
   * Runs `body`: at once the first time (it loads its kernels' modules before anything is recorded) and
   * wherever recording failed, recorded the second time, replayed from then on. `body` must read what
   * changes from run to run from device tensors only.
   */
  run(ops: Ops, body: () => void): void {
    if (this.#recorded !== null) {
      this.#recorded.replay();
      return;
    }
    if (this.#failed || this.#runs++ === 0) {
      body();
      return;
    }
    try {
      this.#recorded = ops.recordStep(body);
    } catch (error) {
      this.#failed = true;
      console.log(`recording ${this.#what} failed, ${this.#plural} run one op at a time: ${error instanceof Error ? error.message : String(error)}`);
      body();
      return;
    }
    this.#recorded.replay();
  }

  /** Releases the recording. */
  close(): void {
    this.#recorded?.close();
    this.#recorded = null;
  }
}
