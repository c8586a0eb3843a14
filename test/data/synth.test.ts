import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPrepared } from '../../src/data/load.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { writeSynthetic } from '../../src/data/synth.js';
import { tempDir } from './helpers.js';

describe('synthetic logs', () => {
  it('writes exactly the asked shape, reproducibly, with a learnable next-item rule', async () => {
    const dir = tempDir();
    const file = join(dir, 'syn.csv');
    const opts = { users: 200, items: 300, interactions: 8000, seed: 7 };
    writeSynthetic(file, opts);
    const again = join(dir, 'again.csv');
    writeSynthetic(again, opts);
    expect(readFileSync(again)).toEqual(readFileSync(file));

    const log = await loadPrepared(resolveDatasetSpec({ path: file }), { cache: false });
    expect(log.numUsers).toBe(200);
    expect(log.items.length).toBe(8000);
    expect(log.numItems).toBeLessThanOrEqual(300);
    // Popularity is skewed: the top 10% of items hold far more than 10% of interactions.
    const counts = new Map<number, number>();
    for (const i of log.items) counts.set(i, (counts.get(i) ?? 0) + 1);
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const top = sorted.slice(0, 30).reduce((s, c) => s + c, 0);
    expect(top / 8000).toBeGreaterThan(0.3);
    // Sequential rule: in time order, a next item is far more often one of few successors of the previous.
    const followers = new Map<number, Map<number, number>>();
    for (let u = 0; u < log.numUsers; u++) {
      for (let k = log.offsets[u]! + 1; k < log.offsets[u + 1]!; k++) {
        const m = followers.get(log.items[k - 1]!) ?? new Map<number, number>();
        m.set(log.items[k]!, (m.get(log.items[k]!) ?? 0) + 1);
        followers.set(log.items[k - 1]!, m);
      }
    }
    let inTop4 = 0;
    let pairs = 0;
    for (const m of followers.values()) {
      const c = [...m.values()].sort((a, b) => b - a);
      inTop4 += c.slice(0, 4).reduce((s, x) => s + x, 0);
      pairs += c.reduce((s, x) => s + x, 0);
    }
    expect(inTop4 / pairs).toBeGreaterThan(0.5);
  });

  it('writes sequence files and rejects impossible shapes', () => {
    const file = join(tempDir(), 'syn.txt');
    writeSynthetic(file, { users: 3, items: 10, interactions: 30, format: 'sequences' });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.length).toBe(3);
    expect(lines.reduce((s, l) => s + l.split(' ').length - 1, 0)).toBe(30);
    expect(() => writeSynthetic(file, { users: 10, items: 10, interactions: 5 })).toThrow(/interactions must be an integer ≥ 10, got 5/);
  });
});
