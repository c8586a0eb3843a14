import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ReportData } from '../../src/report/report-types.js';
import { grid, gridDone } from '../helpers/cli.js';
import { readStore, reportSweep, suiteDir } from './sweep-fixture.js';

/** The data a report file embeds. */
function embedded(html: string): ReportData {
  const m = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
  if (m === null) throw new Error('no report data in the page');
  return JSON.parse(m[1] as string) as ReportData;
}

describe('grid leaderboard --aggregate seeds, grid export --epochs, grid report', () => {
  const dir = suiteDir();
  beforeAll(() => reportSweep(dir));

  it('aggregates seeds as mean, std and n of the ranked values', async () => {
    const plain = JSON.parse((await gridDone(dir, 'leaderboard', '--format', 'json')).output) as {
      'ndcg@10': number;
      config: { train: { loss: string; batch_size: number; seed: number } };
    }[];
    const out = await gridDone(dir, 'leaderboard', '--aggregate', 'seeds', '--format', 'json');
    expect(out.code).toBe(0);
    const groups = JSON.parse(out.output) as { rank: number; n: number; 'ndcg@10': { mean: number; std: number }; seeds: number[]; config: { train: { loss: string; batch_size: number; seed?: number } } }[];
    expect(groups).toHaveLength(9);
    for (const g of groups) {
      const values = plain.filter((r) => r.config.train.loss === g.config.train.loss && r.config.train.batch_size === g.config.train.batch_size).map((r) => r['ndcg@10']);
      const mean = (values[0]! + values[1]!) / 2;
      expect(g.n).toBe(2);
      expect([...g.seeds].sort()).toEqual([1, 2]);
      expect(g.config.train.seed).toBeUndefined();
      expect(g['ndcg@10'].mean).toBeCloseTo(mean, 12);
      expect(g['ndcg@10'].std).toBeCloseTo(Math.abs(values[0]! - values[1]!) / Math.SQRT2, 12);
    }
    expect(groups.map((g) => g['ndcg@10'].mean)).toEqual([...groups.map((g) => g['ndcg@10'].mean)].sort((a, b) => b - a));

    const csv = (await gridDone(dir, 'leaderboard', '--aggregate', 'seeds', '--format', 'csv', '--top', '2', '--where', 'loss=cce')).output.trim().split('\n');
    expect(csv[0]).toBe('rank,batch_size,n,ndcg@10 mean,ndcg@10 std,peak bytes,s/epoch,seeds,trials');
    expect(csv).toHaveLength(3);
    const bad = await gridDone(dir, 'leaderboard', '--aggregate', 'trials');
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/expected one of seeds, got "trials"/);
  });

  it('exports every epoch in long format as CSV and JSON', async () => {
    const epochs = await readStore(dir, (s) => s.listEpochs({ sweep: 'demo' }));
    const csv = await gridDone(dir, 'export', '--epochs');
    expect(csv.code).toBe(0);
    const lines = csv.output.trim().split('\n');
    expect(lines[0]).toBe('trial,attempt,state,fixture.mode,batch_size,loss,seed,epoch,train_loss,hr@10,ndcg@10,epoch_seconds,peak_bytes,tokens_per_second');
    expect(lines).toHaveLength(epochs.length + 1);

    expect((await gridDone(dir, 'export', '--epochs', '--format', 'json', '-o', 'epochs.json')).output).toMatch(/wrote 72 epoch row\(s\) to epochs\.json/);
    const rows = JSON.parse(readFileSync(join(dir, 'epochs.json'), 'utf8')) as Record<string, unknown>[];
    expect(rows).toHaveLength(epochs.length);
    const first = epochs[0]!;
    expect(rows[0]).toMatchObject({ trial: first.trialId, attempt: 1, state: 'completed', epoch: first.epoch, 'ndcg@10': first.metrics['ndcg@10'], peak_bytes: first.peakBytes });

    const top = JSON.parse((await gridDone(dir, 'export', '--epochs', '--format', 'json', '--top', '2', '--where', 'loss=ce')).output) as { trial: string }[];
    expect(top).toHaveLength(8);
    expect(new Set(top.map((r) => r.trial)).size).toBe(2);
    expect((await gridDone(dir, 'export', '--epochs', '--format', 'yaml')).code).toBe(2);
    expect((await gridDone(dir, 'export', '--format', 'csv')).code).toBe(2);
  });

  it('writes one self-contained page whose data match the store', async () => {
    const out = await gridDone(dir, 'report', '-o', 'r.html');
    expect(out.code).toBe(0);
    expect(out.output).toMatch(/wrote r\.html: 30 trial\(s\) \(18 completed, 6 failed, 6 oom\), 72 epoch row\(s\)/);
    const html = readFileSync(join(dir, 'r.html'), 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|https?:\/\/[^"'\s]*\.(js|css)\b/i);
    expect(html).not.toMatch(/http-equiv="refresh"/);
    const data = embedded(html);
    const { trials, epochs } = await readStore(dir, async (s) => ({ trials: await s.listTrials({ sweep: 'demo' }), epochs: await s.listEpochs({ sweep: 'demo' }) }));
    expect(data.trials.map((t) => t.id).sort()).toEqual(trials.map((t) => t.id).sort());
    expect(data.curves.epoch).toHaveLength(epochs.length);
    expect(data.trials.filter((t) => t.state === 'oom').every((t) => t.error === 'oom: wanted 80 GB')).toBe(true);
    expect(data.trials.filter((t) => t.state === 'failed').every((t) => /exited with code 3/.test(t.error ?? ''))).toBe(true);
    expect(data.groups).toHaveLength(9);
    expect(data.axes.filter((a) => a.effect).map((a) => a.name)).toEqual(['batch_size']);

    expect((await gridDone(dir, 'report', 'nope')).code).toBe(2);
    expect((await gridDone(dir, 'report', '--all', 'demo')).code).toBe(2);
  });

  it('--watch rewrites the page as the database changes, and stops on SIGINT', async () => {
    const watch = grid(dir, 'report', '--all', '--watch', '--interval', '1s', '-o', 'w.html');
    await watch.waitFor(/wrote w\.html: 30 trial\(s\)/);
    expect(existsSync(join(dir, 'w.html'))).toBe(true);
    await reportSweep(dir, 'second', 'fixture: {epochs: 2, epoch_ms: 1}\ngrid:\n  loss: [ce, cce]\n  batch_size: [16, 32]\n', /4\/4 done/);
    await watch.waitFor(/wrote w\.html: 34 trial\(s\)/);
    expect(embedded(readFileSync(join(dir, 'w.html'), 'utf8')).sweeps.map((s) => s.name)).toEqual(['demo', 'second']);
    watch.child.kill('SIGINT');
    expect(await watch.exited).toBe(0);
  });
});
