/** `grid plan FILE`: the expansion of a grid file, what is new and what runs.db already holds; runs nothing. */
import type { Command } from 'commander';
import { displayKey, getPath, varyingPaths } from '../sweep/config-paths.js';
import { loadGridFile } from '../sweep/grid-file.js';
import { planSweep } from '../sweep/sweep-service.js';
import { discoverGpus, planSlots } from '../scheduler/devices.js';
import { machineGpus } from './gpus.js';
import { probePeaks, type PeakProbe } from '../scheduler/peak-probe.js';
import { trainerArgv } from '../scheduler/trainer-command.js';
import { parseDuration } from '../sweep/duration.js';
import type { PlannedTrial } from '../sweep/expand.js';
import { action, dbExists, EXIT, oneOf, openDb, print, UsageError, withDb } from './common.js';
import { preflight } from './preflight.js';
import { formatBytes, formatValue, renderTable, shortId, type Column } from './format.js';
import { deviceOptions, withDeviceFlags, type RunFlags } from './run.js';

interface PlanFlags extends RunFlags {
  readonly format: 'table' | 'json';
  readonly memory?: boolean;
  readonly timeout: string;
}

/** Registers `grid plan`. */
export function registerPlan(program: Command): void {
  withDeviceFlags(withDb(program.command('plan')))
    .argument('<file>', 'grid file (YAML)')
    .description('show the trials a grid file expands to, which are new and which exist, without running anything')
    .option('--format <format>', 'table or json', oneOf(['table', 'json'] as const), 'table')
    .option('--memory', "also ask each trial's trainer for its planned peak memory (starts it up to its hello, trains nothing)")
    .option('--timeout <duration>', 'with --memory: how long a trainer may take to say hello', '5m')
    .action(
      action(async (file: string, flags: PlanFlags) => {
        const grid = loadGridFile(file);
        const store = dbExists(flags.db) ? await openDb(flags.db, 'read') : undefined;
        let plan;
        try {
          plan = await planSweep(grid, store);
        } finally {
          await store?.close();
        }
        const { expansion, existing } = plan;
        const memory = flags.memory === true ? await probe(expansion.trials, flags) : undefined;
        const status = (t: PlannedTrial): string => existing.get(t.id) ?? 'new';
        const peak = (t: PlannedTrial): number | null => memory?.probes.get(t.id)?.plannedPeakBytes ?? null;
        if (flags.format === 'json') {
          print(JSON.stringify({ sweep: grid.name, points: expansion.points, excluded: expansion.excluded, collapsed: expansion.collapsed,
            trials: expansion.trials.map((t) => ({
              id: t.id, status: status(t), config: t.config, trainer: t.trainer,
              ...(memory !== undefined ? { planned_peak_bytes: peak(t), problem: memory.probes.get(t.id)?.problem ?? null } : {}),
            })) }, null, 2));
          return memory?.failed === true ? EXIT.failed : 0;
        }
        const byState = new Map<string, number>();
        for (const s of existing.values()) byState.set(s, (byState.get(s) ?? 0) + 1);
        const stored = [...byState].map(([s, n]) => `${n} ${s}`).join(', ');
        print(
          `sweep ${grid.name}: ${expansion.points} point(s) → ${expansion.trials.length} trial(s) (${expansion.excluded} excluded, ${expansion.collapsed} collapsed); ` +
            `${expansion.trials.length - existing.size} new, ${existing.size} already in ${flags.db}${stored === '' ? '' : ` (${stored})`}`,
        );
        const paths = varyingPaths(expansion.trials.map((t) => t.config));
        const columns: Column<PlannedTrial>[] = [
          { header: 'trial', value: (t) => shortId(t.id) },
          { header: 'status', value: status },
          ...paths.map((p): Column<PlannedTrial> => ({ header: displayKey(p), value: (t) => formatValue(getPath(t.config, p)) })),
        ];
        if (memory !== undefined) {
          columns.push({ header: 'planned peak', value: (t) => formatBytes(peak(t) ?? 0) });
          const room = memory.deviceBytes;
          if (room !== undefined) columns.push({ header: `fits ${formatBytes(room)}`, value: (t) => ((peak(t) ?? 0) > room ? 'no' : 'yes') });
        }
        print(renderTable(expansion.trials, columns));
        for (const [id, p] of memory?.probes ?? []) if (p.problem !== null) print(`${shortId(id)}: ${p.problem}`);
        return memory?.failed === true ? EXIT.failed : 0;
      }),
    );
}

/** Probes the trials' planned peaks on this machine's slots; `deviceBytes` is the smallest GPU's memory. */
async function probe(trials: readonly PlannedTrial[], flags: PlanFlags): Promise<{ probes: Map<string, PeakProbe>; failed: boolean; deviceBytes: number | undefined }> {
  const timeoutMs = parseDuration(flags.timeout);
  if (timeoutMs === undefined) throw new UsageError(`--timeout: expected a duration such as "90s" or "5m", got ${JSON.stringify(flags.timeout)}`);
  preflight(trials);
  const options = deviceOptions(flags);
  const slots = planSlots(options.cpu === true ? [] : await machineGpus(discoverGpus, options.gpus), options);
  const probes = await probePeaks(trials, { slots, trainerArgv, timeoutMs });
  const sizes = slots.flatMap((s) => (s.memoryBytes === undefined ? [] : [s.memoryBytes]));
  return { probes, failed: [...probes.values()].some((p) => p.problem !== null), deviceBytes: sizes.length > 0 ? Math.min(...sizes) : undefined };
}
