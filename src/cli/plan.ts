/** `grid plan FILE`: the expansion of a grid file, what is new and what runs.db already holds; runs nothing. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { openStore } from '../store/sqlite-store.js';
import { displayKey, getPath, varyingPaths } from '../sweep/config-paths.js';
import { loadGridFile } from '../sweep/grid-file.js';
import { planSweep } from '../sweep/sweep-service.js';
import { action, oneOf, print, withDb } from './common.js';
import { formatValue, renderTable, shortId, type Column } from './format.js';
import type { PlannedTrial } from '../sweep/expand.js';

/** Registers `grid plan`. */
export function registerPlan(program: Command): void {
  withDb(program.command('plan'))
    .argument('<file>', 'grid file (YAML)')
    .description('show the trials a grid file expands to, which are new and which exist, without running anything')
    .option('--format <format>', 'table or json', oneOf(['table', 'json']), 'table')
    .action(
      action((file: string, flags: { db: string; format: 'table' | 'json' }) => {
        const grid = loadGridFile(file);
        const store = existsSync(flags.db) ? openStore(flags.db, 'read') : undefined;
        let plan;
        try {
          plan = planSweep(grid, store);
        } finally {
          store?.close();
        }
        const { expansion, existing } = plan;
        const status = (t: PlannedTrial): string => existing.get(t.id) ?? 'new';
        if (flags.format === 'json') {
          print(JSON.stringify({ sweep: grid.name, points: expansion.points, excluded: expansion.excluded, collapsed: expansion.collapsed,
            trials: expansion.trials.map((t) => ({ id: t.id, status: status(t), config: t.config, trainer: t.trainer })) }, null, 2));
          return;
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
        print(renderTable(expansion.trials, columns));
      }),
    );
}
