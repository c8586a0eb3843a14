/**
 * Several stores opened for writing on one SQLite file in one process share one connection: their
 * write transactions interleave instead of one waiting synchronously on the lock of the other, which
 * (on the one thread both run on) would never be released.
 */
import { symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import type { Claim } from '../src/store/store.js';
import { tempDir } from './helpers/tmp.js';

const claim: Claim = { host: 'h', pid: process.pid, device: { backend: 'cpu', ordinal: 0 }, heartbeatIntervalS: 5 };
const objective = { metric: 'ndcg@10', direction: 'max' as const };
const trials = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, config: { i }, trainer: 'builtin' as const }));

describe('stores on one SQLite file in one process', () => {
  it('interleave write transactions without waiting on each other, however the file is named', async () => {
    const dir = tempDir();
    const path = join(dir, 'runs.db');
    const a = await openStore(path, 'write');
    const b = await openStore(relative(process.cwd(), path), 'write');
    symlinkSync(path, join(dir, 'link.db'));
    const c = await openStore(join(dir, 'link.db'), 'write');
    try {
      await a.saveSweep({ name: 'x', file: null, document: {}, objective }, trials('x', 3));
      // Each saveSweep is one transaction that awaits between its statements; the claims and the
      // other saves start while it is open.
      const started = Date.now();
      const [savedY, claimed, savedZ, again] = await Promise.all([
        b.saveSweep({ name: 'y', file: null, document: {}, objective }, trials('y', 50)),
        a.claimNext(['x'], claim),
        c.saveSweep({ name: 'z', file: null, document: {}, objective }, trials('z', 50)),
        b.claimNext(['x'], claim),
      ]);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(savedY.added).toHaveLength(50);
      expect(savedZ.added).toHaveLength(50);
      expect([claimed?.trial.id, again?.trial.id]).toEqual(['x0', 'x1']);
      expect((await c.listTrials({ states: ['running'] })).map((t) => t.id)).toEqual(['x0', 'x1']);
    } finally {
      await a.close();
    }
    // The others keep the connection after one closed; the closed one refuses to be used.
    expect(await b.countByState('y')).toEqual({ pending: 50 });
    await expect(a.listSweeps()).rejects.toThrow(/store was closed/);
    await b.close();
    await c.close();
    // The last close closed the connection: the file opens afresh.
    const d = await openStore(path, 'write');
    expect((await d.listSweeps()).map((s) => s.name)).toEqual(['x', 'y', 'z']);
    await d.close();
  }, 15_000);
});
