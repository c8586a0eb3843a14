/**
 * Predicted peak memory of trials before any of them runs (`grid plan --memory`). Each trainer is
 * started as for a run, on a slot of this machine, and stopped as soon as it says hello: its
 * `planned_peak_bytes` is the prediction (the built-in trainer says hello once it has loaded the data
 * and planned its memory, before training). Nothing is written to runs.db; the probe's files live in
 * a temporary directory, removed after.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PQueue from 'p-queue';
import type { TrainerSpec } from '../sweep/canonical.js';
import type { PlannedTrial } from '../sweep/expand.js';
import { readTail } from '../util/file-tail.js';
import { PROTOCOL_VERSION, type TrialFile } from '../trainer/protocol.js';
import { classify } from './classify.js';
import type { Slot } from './devices.js';
import { TrialProcess } from './trial-process.js';

/** What a probe found out about one trial. */
export interface PeakProbe {
  /** The trainer's prediction, or null where it made none (or never said hello). */
  readonly plannedPeakBytes: number | null;
  /** Why the trainer could not plan (it rejected the config, crashed, stayed silent), or null. */
  readonly problem: string | null;
}

/** Options of `probePeaks`. */
export interface ProbeOptions {
  /** Probes run at once, one per slot, with the slot's device and environment. */
  readonly slots: readonly Slot[];
  readonly trainerArgv: (trainer: TrainerSpec) => readonly string[];
  /** How long a trainer may take to say hello (data loading included). */
  readonly timeoutMs: number;
  /** Called as each probe ends. */
  readonly onProbe?: (trialId: string, probe: PeakProbe) => void;
}

/** The attempt number of a probe's trial file: no attempt of a run is ever 0. */
export const PROBE_ATTEMPT = 0;

/** Probes every trial's planned peak; the map is keyed by trial id. */
export async function probePeaks(trials: readonly PlannedTrial[], options: ProbeOptions): Promise<Map<string, PeakProbe>> {
  const dir = mkdtempSync(join(tmpdir(), 'gridrec-probe-'));
  const queue = new PQueue({ concurrency: options.slots.length });
  const free = [...options.slots];
  const probes = new Map<string, PeakProbe>();
  try {
    await Promise.all(
      trials.map((trial) =>
        queue.add(async () => {
          const slot = free.shift() as Slot; // concurrency = slots, so one is free
          try {
            const probe = await probeOne(trial, slot, join(dir, trial.id), options);
            probes.set(trial.id, probe);
            options.onProbe?.(trial.id, probe);
          } finally {
            free.push(slot);
          }
        }),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return probes;
}

async function probeOne(trial: PlannedTrial, slot: Slot, base: string, options: ProbeOptions): Promise<PeakProbe> {
  const trialFile: TrialFile = {
    protocol: PROTOCOL_VERSION,
    trial_id: trial.id,
    attempt: PROBE_ATTEMPT,
    config: trial.config as Record<string, unknown>,
    device: slot.device,
    workdir: `${base}.work`,
    heartbeat_interval_s: Math.min(10, options.timeoutMs / 4000),
  };
  mkdirSync(trialFile.workdir);
  writeFileSync(`${base}.json`, JSON.stringify(trialFile));
  let hello: { planned: number | null } | undefined;
  const proc: TrialProcess = TrialProcess.start({
    argv: options.trainerArgv(trial.trainer),
    env: { ...process.env, ...slot.env },
    trialFile: `${base}.json`,
    logFile: `${base}.log`,
    // The whole probe is bounded, whatever the trainer sends meanwhile.
    trialTimeoutMs: options.timeoutMs,
    stallTimeoutMs: options.timeoutMs,
    killGraceMs: 1000,
    onEvent: (event) => {
      if (event.type !== 'hello') return;
      hello = { planned: event.planned_peak_bytes ?? null };
      proc.stop('probed', true);
    },
  });
  const exit = await proc.exited;
  if (hello !== undefined) return { plannedPeakBytes: hello.planned, problem: null };
  const outcome = classify(exit, {
    external: trial.trainer !== 'builtin',
    logTail: () => readTail(`${base}.log`, 64 * 1024),
    trialTimeoutMs: options.timeoutMs,
    stallTimeoutMs: options.timeoutMs,
  });
  return { plannedPeakBytes: null, problem: outcome.error ?? `ended ${outcome.state} before its hello` };
}
