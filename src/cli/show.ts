/**
 * `grid show TRIAL`: one trial's config, attempts, per-epoch table, the pruner's decisions about the
 * attempt shown (for a pruned trial: at which epoch and rung, against what value) and its log's tail.
 */
import type { Command } from 'commander';
import yaml from 'js-yaml';
import type { AttemptRecord, EpochRecord, PruneDecision, Store, TrialRecord } from '../store/store.js';
import { attemptFiles } from '../store/trial-files.js';
import { readTail } from '../util/file-tail.js';
import { action, intAtLeast, oneOf, print, reading, UsageError, withDb } from './common.js';
import { formatBytes, formatNumber, renderTable, sanitise, type Column } from './format.js';

interface ShowFlags {
  readonly db: string;
  readonly attempt?: number;
  readonly lines: number;
  readonly format: 'text' | 'json';
}

/** Registers `grid show`. */
export function registerShow(program: Command): void {
  withDb(program.command('show'))
    .argument('<trial>', 'trial id or a unique prefix of it')
    .description("show a trial: config, attempts, epochs and the end of its log")
    .option('--attempt <n>', 'the attempt to show epochs and log of (default: the latest)', intAtLeast(1))
    .option('--lines <n>', 'log lines to show', intAtLeast(0), 20)
    .option('--format <format>', 'text or json', oneOf(['text', 'json'] as const), 'text')
    .action(
      action(async (prefix: string, flags: ShowFlags) => {
        await reading(flags.db, async (store) => show(store, await findTrial(store, prefix), flags));
      }),
    );
}

/** The one trial a prefix names; a usage error when none or several match. */
export async function findTrial(store: Store, prefix: string): Promise<TrialRecord> {
  if (!/^[0-9a-f]{4,64}$/i.test(prefix)) throw new UsageError(`${JSON.stringify(prefix)}: expected a trial id or a prefix of at least 4 hex digits`);
  const found = await store.findTrials(prefix);
  if (found.length === 0) throw new UsageError(`${store.path}: no trial ${prefix}`);
  if (found.length > 1) throw new UsageError(`${prefix} is ambiguous: ${found.map((t) => t.id.slice(0, 12)).join(', ')}`);
  return found[0] as TrialRecord;
}

async function show(store: Store, trial: TrialRecord, flags: ShowFlags): Promise<void> {
  const attempts = await store.listAttempts({ trialId: trial.id });
  const attempt = flags.attempt ?? attempts.at(-1)?.attempt;
  if (flags.attempt !== undefined && !attempts.some((a) => a.attempt === flags.attempt)) {
    throw new UsageError(`trial ${trial.id.slice(0, 12)} has no attempt ${flags.attempt}`);
  }
  const epochs = (await store.listEpochs({ trialId: trial.id })).filter((e) => e.attempt === attempt);
  const decisions = (await store.listDecisions({ trialId: trial.id })).filter((d) => d.attempt === attempt);
  const sweeps = await store.sweepsOf(trial.id);
  const stop = decisions.find((d) => d.action === 'prune');
  const log = attempt === undefined ? undefined : attemptFiles(store.path, trial.id, attempt).log;
  const logLines = log === undefined || flags.lines === 0 ? [] : lastLines(readTail(log, 256 * 1024), flags.lines);
  if (flags.format === 'json') {
    print(
      JSON.stringify(
        {
          id: trial.id, state: trial.state, attempt_count: trial.attempts, created_at: trial.createdAt, updated_at: trial.updatedAt,
          trainer: trial.trainer, config: trial.config, sweeps,
          attempts: attempts.map(attemptJson), epochs: epochs.map(epochJson), decisions: decisions.map(decisionJson), log: log ?? null, log_tail: logLines,
        },
        null,
        2,
      ),
    );
    return;
  }
  print(`trial    ${trial.id}`);
  print(`state    ${trial.state} (${trial.attempts} attempt(s))`);
  if (stop !== undefined) print(`pruned   ${stoppedAt(stop)}`);
  print(`trainer  ${sanitise(trial.trainer === 'builtin' ? 'builtin' : trial.trainer.command.join(' '))}`);
  print(`sweeps   ${sweeps.join(', ')}`);
  print(`config:\n${indent(sanitise(yaml.dump(trial.config, { lineWidth: -1 })))}`);
  if (attempts.length > 0) print(`attempts:\n${indent(renderTable(attempts, attemptColumns))}`);
  if (epochs.length > 0) print(`epochs of attempt ${attempt}:\n${indent(renderTable(epochs, epochColumns(epochs)))}`);
  if (decisions.length > 0) print(`pruning decisions about attempt ${attempt}:\n${indent(renderTable(decisions, decisionColumns))}`);
  if (log !== undefined && flags.lines > 0) print(`log of attempt ${attempt} (${log}):\n${indent(sanitise(logLines.join('\n')) || '(empty)')}`);
}

const attemptColumns: Column<AttemptRecord>[] = [
  { header: '#', value: (a) => a.attempt },
  { header: 'state', value: (a) => a.state },
  { header: 'started', value: (a) => new Date(a.startedAt * 1000).toISOString().replace('T', ' ').slice(0, 19) },
  { header: 'seconds', value: (a) => (a.finishedAt === null ? null : Math.round((a.finishedAt - a.startedAt) * 10) / 10) },
  { header: 'device', value: (a) => `${a.device.backend}${a.info !== null && a.info.deviceName !== '' ? ` ${a.info.deviceName}` : ''}` },
  { header: 'planned peak', value: (a) => formatBytes(a.info?.plannedPeakBytes ?? 0) },
  { header: 'exit', value: (a) => a.signal ?? (a.exitCode === null ? null : String(a.exitCode)) },
  { header: 'error', value: (a) => a.error },
];

/** Where and against what a trial was stopped, in one line. */
function stoppedAt(d: PruneDecision): string {
  const where = d.rung === null ? `epoch ${d.epoch}` : `rung ${d.rung} (epoch ${d.epoch})`;
  const n = d.compared.length;
  return `by ${d.rule} (sweep ${d.sweep}) at ${where}: ${d.metric} ${formatNumber(d.value)} against the threshold ${formatNumber(d.threshold)} from ${n} other trial(s)`;
}

const decisionColumns: Column<PruneDecision>[] = [
  { header: 'epoch', value: (d) => d.epoch },
  { header: 'rule', value: (d) => (d.rung === null ? d.rule : `${d.rule} rung ${d.rung}`) },
  { header: 'action', value: (d) => d.action },
  { header: 'value', value: (d) => d.value },
  { header: 'threshold', value: (d) => d.threshold },
  { header: 'compared', value: (d) => d.compared.length },
  { header: 'sweep', value: (d) => d.sweep },
];

function epochColumns(epochs: readonly EpochRecord[]): Column<EpochRecord>[] {
  const names = [...new Set(epochs.flatMap((e) => Object.keys(e.metrics)))].sort();
  return [
    { header: 'epoch', value: (e) => e.epoch },
    { header: 'loss', value: (e) => e.trainLoss },
    ...names.map((n): Column<EpochRecord> => ({ header: n, value: (e) => e.metrics[n] ?? null })),
    { header: 'seconds', value: (e) => e.epochSeconds },
    { header: 'peak', value: (e) => formatBytes(e.peakBytes) },
    { header: 'tokens/s', value: (e) => Math.round(e.tokensPerSecond) },
  ];
}

/** An attempt in JSON (snake_case keys; the result is the trainer's own event, already snake_case). */
function attemptJson(a: AttemptRecord): Record<string, unknown> {
  return {
    attempt: a.attempt, state: a.state, host: a.host, pid: a.pid, child_pid: a.childPid, device: a.device,
    started_at: a.startedAt, heartbeat_at: a.heartbeatAt, heartbeat_interval_s: a.heartbeatIntervalS, finished_at: a.finishedAt,
    exit_code: a.exitCode, signal: a.signal, error: a.error, result: a.result,
    trainer: a.info?.trainer ?? null, trainer_version: a.info?.version ?? null, device_name: a.info?.deviceName ?? null,
    planned_peak_bytes: a.info?.plannedPeakBytes ?? null,
  };
}

/** A pruning decision in JSON (snake_case keys; `group` holds config values under their own keys). */
function decisionJson(d: PruneDecision): Record<string, unknown> {
  return {
    attempt: d.attempt, epoch: d.epoch, sweep: d.sweep, rule: d.rule, action: d.action, metric: d.metric, direction: d.direction,
    value: Number.isFinite(d.value) ? d.value : null, threshold: Number.isFinite(d.threshold) ? d.threshold : null, rung: d.rung, group: d.group,
    compared: d.compared.map((c) => ({ trial: c.trialId, value: Number.isFinite(c.value) ? c.value : null })), reason: d.reason, decided_at: d.decidedAt,
  };
}

/** An epoch in JSON, as the trainer reported it (a diverged loss is null). */
function epochJson(e: EpochRecord): Record<string, unknown> {
  return {
    attempt: e.attempt, epoch: e.epoch, train_loss: Number.isFinite(e.trainLoss) ? e.trainLoss : null, metrics: e.metrics,
    epoch_seconds: e.epochSeconds, peak_bytes: e.peakBytes, tokens_per_second: e.tokensPerSecond,
  };
}

function lastLines(text: string, n: number): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n);
}

function indent(text: string): string {
  return text.trimEnd().split('\n').map((l) => `  ${l}`).join('\n');
}
