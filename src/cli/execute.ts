/**
 * Running a sweep's trials, shared by `grid run` and `grid resume`: device slots, the scheduler,
 * progress on screen, Ctrl-C handling, and the closing summary with the exit code.
 */
import { discoverGpus, noGpuReason, planSlots, type GpuLister } from '../scheduler/devices.js';
import { machineGpus } from './gpus.js';
import { handleInterrupts } from '../scheduler/interrupts.js';
import { Pruner } from '../scheduler/pruner.js';
import { Scheduler, type TrialSource } from '../scheduler/scheduler.js';
import { trainerArgv } from '../scheduler/trainer-command.js';
import type { Store, SweepRecord, TrialRecord } from '../store/store.js';
import { isUnsuccessful, type AttemptEnd } from '../store/trial-state.js';
import { getPath, varyingPaths, displayKey } from '../sweep/config-paths.js';
import type { GridFile } from '../sweep/grid-file.js';
import { rankTrials, type LeaderboardRow } from '../sweep/leaderboard.js';
import { EXIT, note, print } from './common.js';
import { formatNumber, formatValue, shortId } from './format.js';
import { preflight } from './preflight.js';
import { Progress } from './progress.js';

/** Options of `executeTrials`. */
export interface ExecuteOptions {
  readonly store: Store;
  readonly sweep: SweepRecord;
  /** The sweep's grid file (limits, objective, trainer). */
  readonly grid: GridFile;
  readonly trials: readonly TrialRecord[];
  /** Trials at once. @default one per GPU, or 1 on the CPU */
  readonly parallel?: number;
  /** Use CPU slots even where GPUs are present. @default false */
  readonly cpu?: boolean;
  /** Only these GPUs (NVML indices or UUIDs). @default all */
  readonly gpus?: readonly string[];
  /** @default discoverGpus */
  readonly listGpus?: GpuLister;
  /** Trials the pruner must not stop in this run (pruned ones retried). @default none */
  readonly exemptFromPruning?: readonly string[];
  /**
   * Claim trials from here (a worker sharing the sweep) instead of running `trials`, which then only
   * say how many there are to do. @default the trials, claimed by id
   */
  readonly source?: TrialSource;
  /** With a source: how often to look again for trials while others run. @default 2000 */
  readonly pollMs?: number;
}

/** Runs the trials to the end (or to an interrupt) and returns the exit code. */
export async function executeTrials(o: ExecuteOptions): Promise<number> {
  if (o.trials.length === 0 && o.source === undefined) {
    print(`sweep ${o.sweep.name}: nothing to run`);
    return 0;
  }
  preflight(o.trials);
  const gpus = o.cpu === true ? [] : await machineGpus(o.listGpus ?? discoverGpus, o.gpus);
  const slots = planSlots(gpus, o);
  const sweepTrials = await o.store.listTrials({ sweep: o.sweep.name });
  const label = trialLabels(sweepTrials);
  // Read after stale claims were reclaimed: every epoch stored so far counts before anything is decided.
  const pruner = Pruner.create({
    sweep: o.sweep.name,
    spec: o.grid.pruner,
    objective: o.grid.objective,
    trials: sweepTrials,
    epochs: await o.store.listEpochs({ sweep: o.sweep.name }),
    exempt: new Set(o.exemptFromPruning ?? []),
  });
  const progress = new Progress({ stream: process.stdout, total: o.trials.length, metric: o.grid.objective.metric, direction: o.grid.objective.direction, label });
  const scheduler = new Scheduler({
    store: o.store,
    dbPath: o.store.path,
    slots,
    limits: o.grid.limits,
    objective: o.grid.objective,
    trainerArgv,
    onEvent: (e) => progress.onEvent(e),
    pruner,
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
  });
  if (o.cpu !== true && o.listGpus === undefined && gpus.length === 0) note(`no GPU (${noGpuReason()}): trials run on the CPU`);
  print(`${o.source === undefined ? 'running' : 'working on'} ${o.trials.length} trial(s) on ${slots.length} slot(s): ${[...new Set(slots.map((s) => s.label))].join(', ')}`);
  if (pruner !== null) print(`pruner: ${describePruner(o.grid)}; judging from ${pruner.epochsKnown} stored epoch(s)`);
  const dispose = handleInterrupts(scheduler, (m) => progress.say(m));
  let summary;
  try {
    summary = o.source === undefined ? await scheduler.run(o.trials) : await scheduler.work(o.source);
  } finally {
    dispose();
    progress.finish();
  }
  print(`sweep ${o.sweep.name}: ${progress.totals()}`);
  const best = await bestTrial(o.store, o.sweep);
  if (best !== undefined) print(`best: trial ${shortId(best.trial.id)}  ${o.sweep.objective.metric} ${formatNumber(best.value)} (epoch ${best.bestEpoch})  ${label(best.trial.id)}`);
  if (summary.stopped !== null) {
    print(`stopped: ${summary.notStarted} trial(s) not started; \`grid resume ${o.sweep.name}\` continues the sweep`);
    return EXIT.interrupted;
  }
  const bad = (Object.entries(summary.ended) as [AttemptEnd, number][]).some(([state, n]) => n > 0 && isUnsuccessful(state));
  return bad ? EXIT.failed : 0;
}

/** The grid file's pruner in words: `asha (min_epochs 1, reduction_factor 3, group_by loss)`. */
export function describePruner(grid: GridFile): string {
  const p = grid.pruner;
  const settings =
    p.rule === 'median'
      ? [`warmup_epochs ${p.warmupEpochs}`, `min_trials ${p.minTrials}`]
      : p.rule === 'asha'
        ? [`min_epochs ${p.minEpochs}`, `reduction_factor ${p.reductionFactor}`]
        : [];
  if (p.rule !== 'none' && p.groupBy.length > 0) settings.push(`group_by ${p.groupBy.map(displayKey).join(', ')}`);
  return settings.length === 0 ? p.rule : `${p.rule} (${settings.join(', ')})`;
}

/** Labels trials by the config values that tell them apart within their sweep. */
export function trialLabels(trials: readonly TrialRecord[]): (trialId: string) => string {
  const paths = varyingPaths(trials.map((t) => t.config));
  const byId = new Map(trials.map((t) => [t.id, t]));
  return (id) => {
    const t = byId.get(id);
    return t === undefined ? '' : paths.map((p) => `${displayKey(p)}=${formatValue(getPath(t.config, p))}`).join(' ');
  };
}

/** The sweep's best completed trial by its objective, or undefined when none has a value. */
async function bestTrial(store: Store, sweep: SweepRecord): Promise<LeaderboardRow | undefined> {
  const { metric, direction } = sweep.objective;
  const [top] = rankTrials(await store.listTrials({ sweep: sweep.name, states: ['completed'] }), await store.rankedAttempts({ sweep: sweep.name }, metric, direction), { metric, direction, top: 1 });
  return top === undefined || Number.isNaN(top.value) ? undefined : top;
}
