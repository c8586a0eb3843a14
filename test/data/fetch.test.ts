import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchDataset, fetchSource } from '../../src/data/fetch.js';
import type { HttpSource } from '../../src/data/registry.js';
import { tempDir, tempFile } from './helpers.js';
import { writeZip } from './zip-writer.js';

const RATINGS = Buffer.from(Array.from({ length: 2000 }, (_, k) => `${(k % 7) + 1}::${k + 1}::4::${978300000 + k}\n`).join(''));
const GOOD = writeZip([
  { name: 'ml-x/README', data: Buffer.from('fixture') },
  { name: 'ml-x/ratings.dat', data: RATINGS },
]);
const CORRUPT = Buffer.from(GOOD);
CORRUPT[100]! ^= 0xff;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** Requests the server saw: path and Range header. */
const seen: { path: string; range: string | undefined }[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  let drops = 0;
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', range: req.headers.range });
    const body = req.url === '/corrupt.zip' ? CORRUPT : GOOD;
    if (req.url === '/missing.zip') {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m && req.url !== '/no-range.zip' ? Number(m[1]) : 0;
    if (from > 0) {
      res.writeHead(206, { 'Content-Length': body.length - from, 'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}` });
    } else res.writeHead(200, { 'Content-Length': body.length });
    if (req.url === '/drop.zip' && drops++ === 0) {
      // Send half the body, then close the connection (a FIN, so the half surely arrives first).
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.end());
      return;
    }
    res.end(body.subarray(from));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function source(path: string, hex = md5(GOOD)): HttpSource {
  return {
    kind: 'http',
    url: `${base}${path}`,
    download: 'ml-x.zip',
    member: 'ml-x/ratings.dat',
    checksum: { algorithm: 'md5', hex, origin: 'measured' },
  };
}

describe('fetch', () => {
  it('downloads, verifies the checksum and extracts the member; a second fetch does not download', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const r = await fetchSource(source('/good.zip'), dir, { report: (l) => lines.push(l) });
    expect(r.verified).toBe(true);
    expect(r.file).toBe(join(dir, 'ratings.dat'));
    expect(readFileSync(r.file)).toEqual(RATINGS);
    expect(lines.some((l) => l.startsWith('md5 verified (measured)'))).toBe(true);
    const before = seen.length;
    await fetchSource(source('/good.zip'), dir);
    expect(seen.length).toBe(before);
  });

  it('rejects a corrupt download with a checksum mismatch and deletes it', async () => {
    const dir = tempDir();
    await expect(fetchSource(source('/corrupt.zip'), dir)).rejects.toThrow(new RegExp(`md5 mismatch: expected ${md5(GOOD)}, got ${md5(CORRUPT)}`));
    expect(existsSync(join(dir, 'ml-x.zip.part'))).toBe(false);
    expect(existsSync(join(dir, 'ml-x.zip'))).toBe(false);
  });

  it('resumes after a dropped connection with a Range request', async () => {
    const dir = tempDir();
    const r = await fetchSource(source('/drop.zip'), dir, { retryDelayMs: 0 });
    expect(r.verified).toBe(true);
    const drops = seen.filter((s) => s.path === '/drop.zip');
    expect(drops.length).toBe(2);
    expect(drops[0]!.range).toBeUndefined();
    expect(drops[1]!.range).toBe(`bytes=${GOOD.length >> 1}-`);
    expect(readFileSync(r.file)).toEqual(RATINGS);
  });

  it('restarts when the server ignores Range, and reports HTTP errors with the URL', async () => {
    const dir = tempDir();
    const part = tempFile('ml-x.zip.part', GOOD.subarray(0, 50));
    const r = await fetchSource({ ...source('/no-range.zip'), download: 'ml-x.zip' }, join(part, '..'));
    expect(r.verified).toBe(true);
    await expect(fetchSource(source('/missing.zip'), dir)).rejects.toThrow(`${base}/missing.zip: HTTP 404`);
  });

  it('explains manual sources and places a local copy', async () => {
    const cacheDir = tempDir();
    await expect(fetchDataset('zvuk', cacheDir)).rejects.toThrow(/Kaggle needs an account.*https:\/\/www\.kaggle\.com\/datasets\/alexxl\/zvuk-dataset/);
    const local = tempFile('zvuk-interactions.parquet', 'PAR1');
    const r = await fetchDataset('zvuk', cacheDir, { from: local });
    expect(r.verified).toBe(false);
    expect(r.file).toBe(join(cacheDir, 'downloads', 'zvuk', 'zvuk-interactions.parquet'));
    expect(r.sha256).toBe(createHash('sha256').update('PAR1').digest('hex'));
    await expect(fetchDataset('ml-latest-small', cacheDir)).rejects.toThrow(/embedded in the package/);
  });
});
