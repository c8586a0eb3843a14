/**
 * Trials of the built-in trainer on a synthetic log, for the trainer's tests: CPU ops on one thread and
 * the log loaded as a data set, set up before a file's (or a describe block's) tests and freed after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { loadDataset } from '../../src/data/load.js';
import { writeSynthetic, type SynthOptions } from '../../src/data/synth.js';
import type { PreparedDataset } from '../../src/data/types.js';
import type { TrialConfig } from '../../src/trainer/config.js';
import { MemoryEventSink } from '../../src/trainer/events.js';
import type { EpochEvent, ResultEvent } from '../../src/trainer/protocol.js';
import { prepareTrial } from '../../src/trainer/train-loop.js';

/** What one run of a trial reported: its epochs, its result, and the peak memory it planned. */
export interface TrialRun {
  readonly epochs: EpochEvent[];
  readonly result: ResultEvent;
  readonly planned: number;
}

/** The ops, the log and its data set of `useTrialBench`; read them in tests and hooks that run after its own. */
export interface TrialBench {
  readonly ops: CpuOps;
  /** The synthetic log's path. */
  readonly file: string;
  readonly data: PreparedDataset;
  /** Runs one trial of `cfg` on `data` to its end, with the peak memory counted from the start of the run. */
  train(cfg: TrialConfig): Promise<TrialRun>;
}

/**
 * Registers hooks that, before the tests, create CPU ops on one thread, write a synthetic log of
 * `options` into a fresh temporary folder (named from `prefix`) and load it with the data set section
 * `dataset()` gives (which may read the bench's `file`); after them, close the ops and delete the folder.
 */
export function useTrialBench(prefix: string, options: SynthOptions, dataset: () => TrialConfig['dataset']): TrialBench {
  let state: { ops: CpuOps; dir: string; file: string; data?: PreparedDataset } | undefined;
  const ready = (): NonNullable<typeof state> => {
    if (state === undefined) throw new Error('the trial bench is set up in beforeAll: read it in tests');
    return state;
  };
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    state = { ops: await CpuOps.create({ threads: 1 }), dir, file: join(dir, 'log.txt') };
    writeSynthetic(state.file, options);
    state.data = await loadDataset(dataset(), { cache: false });
  });
  afterAll(() => {
    state?.ops.close();
    if (state !== undefined) rmSync(state.dir, { recursive: true, force: true });
  });
  const bench: TrialBench = {
    get ops() {
      return ready().ops;
    },
    get file() {
      return ready().file;
    },
    get data() {
      const { data } = ready();
      if (data === undefined) throw new Error('the trial bench has not loaded its data set yet');
      return data;
    },
    async train(cfg) {
      const sink = new MemoryEventSink();
      const trial = prepareTrial(bench.ops, cfg, bench.data);
      bench.ops.resetPeak();
      const result = await trial.run(sink);
      return { epochs: sink.events.filter((e): e is EpochEvent => e.type === 'epoch'), result, planned: trial.plannedPeakBytes };
    },
  };
  return bench;
}
