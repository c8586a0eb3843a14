import { readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset, loadPrepared } from '../../src/data/load.js';
import { resolveDatasetSpec } from '../../src/data/spec.js';
import { rows, tempDir, tempFile } from './helpers.js';

const CSV = 'user_id,item_id,timestamp\n1,10,1\n1,20,2\n1,30,3\n2,20,4\n2,30,5\n2,10,6\n';

async function load(file: string, cacheDir: string, extra: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const log = await loadPrepared(resolveDatasetSpec({ path: file, ...extra }), { cacheDir, report: (l) => lines.push(l) });
  return { log, line: lines.join('\n') };
}

function cacheFile(cacheDir: string): string {
  const dir = join(cacheDir, 'prepared');
  const files = readdirSync(dir).filter((f) => f.endsWith('.bin'));
  expect(files.length).toBe(1);
  return join(dir, files[0]!);
}

describe('prepared cache', () => {
  it('serves a second load from the cache, with the same contents', async () => {
    const file = tempFile('log.csv', CSV);
    const cacheDir = tempDir();
    const first = await load(file, cacheDir);
    expect(first.line).toMatch(/^prepared cache miss/);
    const second = await load(file, cacheDir);
    expect(second.line).toMatch(/^prepared cache hit/);
    expect(rows(second.log)).toEqual(rows(first.log));
    expect(Array.from(second.log.times)).toEqual(Array.from(first.log.times));
    expect(second.log.counts).toEqual(first.log.counts);
    // The split is not part of the key: another split reuses the prepared log.
    const ds = await loadDataset(resolveDatasetSpec({ path: file, split: 'seed', test_quantile: 0.5 }), { cacheDir });
    expect(ds.train.offsets.length).toBeGreaterThan(1);
    expect(readdirSync(join(cacheDir, 'prepared')).length).toBe(1);
  });

  it('misses when a preparation parameter or the source changes, even at equal size and time', async () => {
    const file = tempFile('log.csv', CSV);
    const cacheDir = tempDir();
    await load(file, cacheDir);
    expect((await load(file, cacheDir, { dedup: 'all' })).line).toMatch(/^prepared cache miss/);
    const before = statSync(file);
    writeFileSync(file, CSV.replace('1,30,3', '1,31,3'));
    utimesSync(file, before.atime, before.mtime);
    const changed = await load(file, cacheDir);
    expect(changed.line).toMatch(/^prepared cache miss/);
    expect(changed.log.numItems).toBe(4);
  });

  it('rejects and rebuilds a corrupt or truncated cache file', async () => {
    const file = tempFile('log.csv', CSV);
    const cacheDir = tempDir();
    const { log } = await load(file, cacheDir);
    const path = cacheFile(cacheDir);
    const bytes = readFileSync(path);
    bytes[bytes.length - 20]! ^= 0xff;
    writeFileSync(path, bytes);
    const corrupt = await load(file, cacheDir);
    expect(corrupt.line).toMatch(/^prepared cache rejected \(checksum mismatch\)/);
    expect(rows(corrupt.log)).toEqual(rows(log));
    truncateSync(cacheFile(cacheDir), statSync(cacheFile(cacheDir)).size - 8);
    expect((await load(file, cacheDir)).line).toMatch(/^prepared cache rejected \(size \d+, expected \d+\)/);
    writeFileSync(cacheFile(cacheDir), 'garbage');
    expect((await load(file, cacheDir)).line).toMatch(/^prepared cache rejected \(not a gridrec cache file\)/);
    expect((await load(file, cacheDir)).line).toMatch(/^prepared cache hit/);
  });
});
