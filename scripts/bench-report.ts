/**
 * What `grid report` costs on a large sweep: a runs.db of 5,000 trials (6 losses × batch sizes ×
 * sequence lengths × negatives × seeds, some out of memory and failed) with 100,000 epoch rows,
 * written through the store, then `grid report` end to end (a child process: start-up, read, build,
 * write) timed and the file measured. The bounds: under 5 s and under 10 MB.
 *
 *   npm run build && npx tsx scripts/bench-report.ts [--trials 5000] [--epochs 21] [--keep]
 *
 * --keep leaves the database and the report in the temporary folder it prints.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/open-store.js';
import type { NewTrial } from '../src/store/store.js';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '5000' }, epochs: { type: 'string', default: '21' }, keep: { type: 'boolean', default: false } } });
const trialCount = Number(values.trials);
const epochsEach = Number(values.epochs);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const losses = ['ce', 'cce', 'ce-', 'cce-', 'bce', 'bce+'];
const dir = mkdtempSync(join(tmpdir(), 'gridrec-bench-report-'));
try {
  const db = join(dir, 'runs.db');
  const store = await openStore(db, 'write');
  const trials: NewTrial[] = Array.from({ length: trialCount }, (_, i) => {
    const config = {
      model: { hidden: 64, max_seq_len: [50, 100, 200, 400][i % 4] },
      train: { loss: losses[Math.floor(i / 4) % 6], batch_size: [64, 128, 256, 512, 1024][Math.floor(i / 24) % 5], negatives: [64, 256, 1024][Math.floor(i / 120) % 3], seed: Math.floor(i / 360) },
    };
    return { id: `t${String(i).padStart(6, '0')}`, config, trainer: 'builtin' };
  });
  const t0 = performance.now();
  await store.saveSweep({ name: 'big', file: null, document: {}, objective: { metric: 'ndcg@10', direction: 'max' } }, trials);
  const device = { backend: 'cpu' as const, ordinal: 0 };
  let epochRows = 0;
  for (const [i, t] of trials.entries()) {
    const attempt = await store.claim(t.id, { host: 'bench', pid: 1, device, heartbeatIntervalS: 10 });
    if (attempt === false) throw new Error(`${t.id}: not claimed`);
    const planned = 2 ** 20 * (50 + (i % 97) * 13);
    await store.recordInfo(t.id, attempt, { trainer: 'bench', version: '0', deviceName: 'cpu', plannedPeakBytes: planned });
    if (i % 50 === 7) {
      await store.finishAttempt(t.id, attempt, { state: 'oom', error: `oom: planned ${planned} bytes exceed the GPU` });
      continue;
    }
    const epochs = i % 50 === 11 ? 3 : epochsEach;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const ndcg = 0.05 + 0.1 * Math.sin(i) ** 2 + 0.002 * epoch;
      await store.recordEpoch({ trialId: t.id, attempt, epoch, trainLoss: 8 - epoch * 0.1, metrics: { 'ndcg@10': ndcg, 'hr@10': ndcg * 1.7 }, epochSeconds: 1 + (i % 13), peakBytes: planned * 1.05, tokensPerSecond: 1e5 });
      epochRows += 1;
    }
    await store.finishAttempt(t.id, attempt, epochs === epochsEach ? { state: 'completed' } : { state: 'failed', exitCode: 1, error: 'exited with code 1' });
  }
  await store.close();
  console.log(`wrote ${trialCount} trials, ${epochRows} epoch rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const runs: number[] = [];
  const out = join(dir, 'report.html');
  for (let r = 0; r < 3; r++) {
    const s = performance.now();
    execFileSync(process.execPath, [cli, 'report', '--db', db, '-o', out], { stdio: 'pipe' });
    runs.push((performance.now() - s) / 1000);
  }
  const bytes = statSync(out).size;
  runs.sort((a, b) => a - b);
  console.log(`grid report: ${runs.map((s) => s.toFixed(2)).join(' / ')} s (sorted, 3 runs), median ${runs[1]?.toFixed(2)} s; ${(bytes / 2 ** 20).toFixed(2)} MiB (${bytes} bytes)`);
} finally {
  if (values.keep === true) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
