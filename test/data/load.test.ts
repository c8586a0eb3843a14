import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/load.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { tempDir, tempFile } from './helpers.js';

describe('loadDataset', () => {
  it('loads the embedded ml-latest-small from the package, whatever the working directory', async () => {
    const ds = await loadDataset(resolveDatasetSpec('ml-latest-small'), { cacheDir: tempDir() });
    expect(ds.name).toBe('ml-latest-small');
    // 610 users, all with ≥ 20 ratings; items with ≥ 5 ratings.
    expect(ds.test.targets.length).toBe(610);
    expect(ds.validation.targets.length).toBe(610);
    expect(ds.train.offsets.length - 1).toBe(610);
    expect(ds.numItems).toBe(3650);
    expect(ds.train.items.length + 2 * 610).toBe(ds.test.inputs.items.length + 610);
    let sum = 0;
    for (const c of ds.itemCounts) sum += c;
    expect(sum).toBe(ds.train.items.length);
    for (const t of ds.test.targets) expect(t >= 1 && t <= ds.numItems).toBe(true);
  });

  it('loads a sequence file, and says how to get a registered data set that is not fetched', async () => {
    const file = tempFile('seq.txt', '1 10 20 30 40\n2 20 30 40\n');
    const ds = await loadDataset(resolveDatasetSpec({ path: file }), { cacheDir: tempDir() });
    expect(ds.name).toBe('seq.txt');
    expect(ds.numItems).toBe(4);
    expect(Array.from(ds.test.targets)).toEqual([4, 4]);
    await expect(loadDataset(resolveDatasetSpec('movielens-1m'), { cacheDir: tempDir() })).rejects.toThrow(/ratings\.dat: no such file: run `grid data fetch movielens-1m` or set dataset\.path/);
  });
});
