/** Trials of the built-in trainer on a synthetic log, for the trainer's tests: the log, and one run of a trial. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { writeSynthetic, type SynthOptions } from '../../src/data/synth.js';
import type { PreparedDataset } from '../../src/data/types.js';
import type { TrialConfig } from '../../src/trainer/config.js';
import { MemoryEventSink } from '../../src/trainer/events.js';
import type { EpochEvent, ResultEvent } from '../../src/trainer/protocol.js';
import { prepareTrial } from '../../src/trainer/train-loop.js';

/** A synthetic log written to `file` in a fresh temporary folder (named from `prefix`), which `remove` deletes. */
export interface SyntheticLog {
  readonly file: string;
  remove(): void;
}

/** Writes a synthetic log (src/data/synth.ts) of `options` into a fresh temporary folder. */
export function syntheticLog(prefix: string, options: SynthOptions): SyntheticLog {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, 'log.txt');
  writeSynthetic(file, options);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What one run of a trial reported: its epochs, its result, and the peak memory it planned. */
export interface TrialRun {
  readonly epochs: EpochEvent[];
  readonly result: ResultEvent;
  readonly planned: number;
}

/** Runs one trial of `cfg` on `data` to its end, with the peak memory counted from the start of the run. */
export async function runTrial(ops: CpuOps, cfg: TrialConfig, data: PreparedDataset): Promise<TrialRun> {
  const sink = new MemoryEventSink();
  const trial = prepareTrial(ops, cfg, data);
  ops.resetPeak();
  const result = await trial.run(sink);
  return { epochs: sink.events.filter((e): e is EpochEvent => e.type === 'epoch'), result, planned: trial.plannedPeakBytes };
}
