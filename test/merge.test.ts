/** `grid merge`: results of two stores meet, without duplicates, in either direction between engines. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { gridDone } from './helpers/cli.js';
import { fakeGrid } from './helpers/fixture.js';
import { ENGINES } from './helpers/stores.js';
import { tempDir } from './helpers/tmp.js';

describe.each(ENGINES)('grid merge into $name', (engine) => {
  it('imports sweeps, trials, attempts and epochs once; a config run in both stores keeps both attempts', async (ctx) => {
    const dir = tempDir();
    const body = (ks: number[]): string => `fixture: {epochs: 2, epoch_ms: 2}\ngrid:\n  fixture.k: [${ks.join(', ')}]\n`;
    writeFileSync(join(dir, 'here.yaml'), fakeGrid('s', body([0, 1, 2, 3])));
    writeFileSync(join(dir, 'there.yaml'), fakeGrid('s', body([2, 3, 4, 5])));
    writeFileSync(join(dir, 'other.yaml'), fakeGrid('t', body([9])));
    const target = await engine.fresh(ctx);
    expect((await gridDone(dir, 'run', 'here.yaml', '--db', target)).code).toBe(0);
    const laptop = join(dir, 'laptop.db');
    expect((await gridDone(dir, 'run', 'there.yaml', '--db', laptop)).code).toBe(0);
    expect((await gridDone(dir, 'run', 'other.yaml', '--db', laptop)).code).toBe(0);

    const first = await gridDone(dir, 'merge', laptop, '--db', target);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/1 new sweep\(s\) of 2, 3 new trial\(s\), 5 attempt\(s\), 10 epoch\(s\)/);
    const again = await gridDone(dir, 'merge', laptop, '--db', target);
    expect(again.output).toMatch(/0 new sweep\(s\) of 2, 0 new trial\(s\), 0 attempt\(s\), 0 epoch\(s\)/);

    const store = await openStore(target, 'read');
    try {
      const trials = await store.listTrials({ sweep: 's' });
      expect(trials).toHaveLength(6); // the sweep here, then the other's trials it lacked
      expect(trials.every((t) => t.state === 'completed')).toBe(true);
      expect(trials.map((t) => t.attempts).sort()).toEqual([1, 1, 1, 1, 2, 2]);
      const attempts = await store.listAttempts({});
      expect(attempts).toHaveLength(9);
      const epochs = await store.listEpochs({});
      expect(epochs).toHaveLength(18);
      for (const a of attempts) expect(epochs.filter((e) => e.trialId === a.trialId && e.attempt === a.attempt).map((e) => e.epoch)).toEqual([1, 2]);
      expect((await store.listTrials({ sweep: 't' })).map((t) => t.state)).toEqual(['completed']);
    } finally {
      await store.close();
    }
    const board = await gridDone(dir, 'leaderboard', '--sweep', 's', '--format', 'json', '--db', target);
    expect(JSON.parse(board.output)).toHaveLength(6);
    // And back: the merged store into a fresh SQLite file holds the same.
    const back = join(dir, 'back.db');
    expect((await gridDone(dir, 'merge', target, '--db', back)).output).toMatch(/2 new sweep\(s\) of 2, 7 new trial\(s\), 9 attempt\(s\), 18 epoch\(s\)/);
  });
});
