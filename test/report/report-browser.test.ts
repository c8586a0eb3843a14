/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The report in a real headless Chromium (Debian's package, which .ci/run installs): it loads with no
 * console error or warning and no network request, every chart draws one mark per trial, config or
 * epoch the store holds, sorting and filtering the leaderboard work, ticking a row adds its curves.
 * Screenshots go to test-artifacts/report/ (or $GRIDREC_SCREENSHOTS) for a person to look at.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportData } from '../../src/report/report-types.js';
import type { Store } from '../../src/store/store.js';
import { gridDone } from '../helpers/cli.js';
import { readStore, reportSweep, suiteDir } from './sweep-fixture.js';

declare global {
  /** What the report page exposes (src/report/client/report-client.ts). */
  interface Window {
    gridReport: { readonly data: ReportData; readonly ready: Promise<void> };
  }
}

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = !existsSync(CHROMIUM);
if (noBrowser) console.log(`[skip] test/report/report-browser.test.ts: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);

const SHOTS = resolve(process.env.GRIDREC_SCREENSHOTS ?? 'test-artifacts/report');

/** The flags the machine's closed network needs: no background connections, no first-run work. */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** What the store says each chart must draw, computed here without the report's code. */
async function expected(store: Store): Promise<Record<string, number>> {
  const completed = await store.listTrials({ sweep: 'demo', states: ['completed'] });
  const epochs = await store.listEpochs({ sweep: 'demo' });
  const configs = new Set(completed.map((t) => JSON.stringify([(t.config.train as Record<string, unknown>).loss, (t.config.train as Record<string, unknown>).batch_size])));
  const best = completed
    .map((t) => ({ id: t.id, best: Math.max(...epochs.filter((e) => e.trialId === t.id).map((e) => e.metrics['ndcg@10'] ?? Number.NaN)) }))
    .sort((a, b) => b.best - a.best)
    .slice(0, 5);
  const planned = new Set((await store.listAttempts({ sweep: 'demo' })).filter((a) => a.info?.plannedPeakBytes != null).map((a) => a.trialId));
  return {
    'tradeoff-memory': completed.length,
    'tradeoff-time': completed.length,
    'effect-loss': configs.size,
    'effect-batch_size': configs.size,
    'curves-value': epochs.filter((e) => best.some((b) => b.id === e.trialId)).length,
    'curves-loss': epochs.filter((e) => best.some((b) => b.id === e.trialId)).length,
    memory: completed.filter((t) => planned.has(t.id)).length,
  };
}

describe.skipIf(noBrowser)('grid report in headless Chromium', () => {
  const dir = suiteDir();
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const requests: string[] = [];
  let url = '';

  beforeAll(async () => {
    await reportSweep(dir);
    expect((await gridDone(dir, 'report', '-o', 'report.html')).code).toBe(0);
    url = pathToFileURL(join(dir, 'report.html')).href;
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    await page.evaluate(() => window.gridReport.ready);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('loads with no console error or warning and no request but the file itself', async () => {
    await page.screenshot({ path: join(SHOTS, 'report-full.png'), fullPage: true });
    console.log(`screenshots: ${SHOTS}`);
    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);
  });

  it('draws one mark per trial, config or epoch the store has', async () => {
    const want = await readStore(dir, expected);
    const axis = await page.evaluate(() => window.gridReport.data.axes.find((a) => a.name === 'batch_size')?.field);
    const counts = await page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll<HTMLElement>('figure.chart')].map((f) => [
          f.id.replace(/^chart-/, ''),
          f.querySelectorAll(`g.${f.dataset.mark ?? ''}_marks > path`).length,
        ]),
      ),
    );
    expect({ ...counts, [`effect-batch_size`]: counts[`effect-${axis}`] }).toMatchObject(want);
    for (const [chart, n] of Object.entries(want)) expect(n, chart).toBeGreaterThan(0);
  });

  it('sorts the leaderboard by a column, both ways, and filters it', async () => {
    const column = async (key: string): Promise<string[]> =>
      page.evaluate((k) => {
        const index = [...document.querySelectorAll('#leaderboard thead th')].findIndex((th) => (th as HTMLElement).dataset.key === k);
        return [...document.querySelectorAll<HTMLTableRowElement>('#leaderboard tbody tr')].filter((tr) => !tr.hidden).map((tr) => tr.cells[index]?.textContent ?? '');
      }, key);
    const board = await readStore(dir, (s) => s.listEpochs({ sweep: 'demo' }));
    const bestOf = new Map<string, number>();
    for (const e of board) bestOf.set(e.trialId, Math.max(bestOf.get(e.trialId) ?? -1, e.metrics['ndcg@10'] ?? -1));
    const values = [...(await readStore(dir, (s) => s.listTrials({ sweep: 'demo', states: ['completed'] })))].map((t) => bestOf.get(t.id) as number);

    // The page keeps six significant digits and prints four decimals: two roundings, so the last digit
    // may be one off (0.1927495 → 0.19275 → "0.1928").
    const near = (shown: string[], want: number[]): void => {
      expect(shown).toHaveLength(want.length);
      shown.forEach((text, i) => expect(Math.abs(Number(text) - want[i]!), `row ${i}: ${text} vs ${want[i]}`).toBeLessThanOrEqual(1.0001e-4));
    };
    await page.click('#leaderboard th[data-key="m:ndcg@10"]');
    near(await column('m:ndcg@10'), [...values].sort((a, b) => a - b));
    expect(await page.getAttribute('#leaderboard th[data-key="m:ndcg@10"]', 'aria-sort')).toBe('ascending');
    await page.click('#leaderboard th[data-key="m:ndcg@10"]');
    near(await column('m:ndcg@10'), [...values].sort((a, b) => b - a));

    await page.click('#leaderboard th[data-key="trial"]');
    const ids = await column('trial');
    expect(ids).toEqual([...ids].sort());
    await page.screenshot({ path: join(SHOTS, 'leaderboard-sorted.png') });

    await page.fill('#leaderboard-filter', 'loss=cce batch_size=4');
    expect(await column('trial')).toHaveLength(2);
    expect(await page.textContent('#leaderboard-count')).toBe('2 of 18 completed trial(s)');
    await page.fill('#leaderboard-filter', '');
    expect(await column('trial')).toHaveLength(18);
  });

  it('adds the learning curves of a ticked trial', async () => {
    const epochs = async (): Promise<number> => page.locator('#chart-curves-value g.epochs_marks > path').count();
    const before = await epochs();
    const tenth = await page.evaluate(() => window.gridReport.data.trials.find((t) => t.rank === 10)?.id ?? '');
    await page.check(`#leaderboard tr[data-trial="${tenth}"] input[type="checkbox"]`);
    await expect.poll(epochs).toBe(before + 4);
    await page.locator('#section-curves').screenshot({ path: join(SHOTS, 'curves-ticked.png') });
    await page.locator('#failures').screenshot({ path: join(SHOTS, 'failures.png') });
    expect(await page.locator('#failures-table tbody tr').count()).toBe(12);
    expect(problems).toEqual([]);
  });
});
