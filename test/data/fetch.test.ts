import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fetchDataset, fetchSource, type DownloadProgress } from '../../src/data/fetch.js';
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
    if (req.url === '/moved.zip') {
      res.writeHead(302, { Location: '/good.zip' }).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m && req.url !== '/no-range.zip' ? Number(m[1]) : 0;
    if (from > 0) {
      res.writeHead(206, { 'Content-Length': body.length - from, 'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}` });
    } else res.writeHead(200, { 'Content-Length': body.length });
    if (req.url === '/stall.zip') {
      // Half the body, then silence with the connection open: a stalled socket.
      res.write(body.subarray(from, from + 100));
      return;
    }
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

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

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

  it('fails a stalled download with an error naming the URL instead of hanging', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const started = Date.now();
    await expect(fetchSource(source('/stall.zip'), dir, { stallTimeoutMs: 300, attempts: 2, retryDelayMs: 0, report: (l) => lines.push(l) })).rejects.toThrow(
      `${base}/stall.zip: download failed after 2 attempts: stalled: nothing received for 0.3 s`,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    // The second attempt resumed after the 100 bytes the first one received.
    expect(lines).toContain('attempt 1 failed (stalled: nothing received for 0.3 s); resuming');
    expect(seen.filter((s) => s.path === '/stall.zip').map((s) => s.range)).toEqual([undefined, 'bytes=100-']);
  });

  it('follows redirects and reports byte progress up to the whole size', async () => {
    const dir = tempDir();
    const calls: DownloadProgress[] = [];
    const r = await fetchSource(source('/moved.zip'), dir, { progress: (p) => calls.push(p) });
    expect(r.verified).toBe(true);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.at(-1)).toEqual({ received: GOOD.length, total: GOOD.length });
    for (const [i, c] of calls.entries()) expect(c.received).toBeGreaterThanOrEqual(calls[i - 1]?.received ?? 0);
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

describe('fetch through a proxy', () => {
  /** Hosts the proxy was asked to reach (CONNECT targets or absolute-URL requests). */
  const asked: string[] = [];
  let proxy: Server;
  let proxyUrl: string;

  beforeAll(async () => {
    // A forward proxy that sends every host to the local test server: a name that resolves nowhere
    // still downloads, so the download surely went through it.
    proxy = createServer((req, res) => {
      asked.push(req.url ?? '');
      const target = new URL(req.url ?? '/');
      fetch(`${base}${target.pathname}`).then(async (r) => res.writeHead(r.status, { 'Content-Length': String(GOOD.length) }).end(Buffer.from(await r.arrayBuffer())));
    });
    proxy.on('connect', (req, client, head) => {
      asked.push(req.url ?? '');
      const { port } = new URL(base);
      const upstream = connect(Number(port), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  afterAll(() => {
    proxy.closeAllConnections();
    return new Promise<void>((resolve) => proxy.close(() => resolve()));
  });

  afterEach(() => vi.unstubAllEnvs());

  it('honours HTTP_PROXY, and NO_PROXY for the hosts it names', async () => {
    vi.stubEnv('HTTP_PROXY', proxyUrl);
    vi.stubEnv('http_proxy', proxyUrl);
    vi.stubEnv('NO_PROXY', '');
    vi.stubEnv('no_proxy', '');
    const r = await fetchSource({ ...source('/good.zip'), url: 'http://data.gridrec.invalid/good.zip' }, tempDir());
    expect(r.verified).toBe(true);
    expect(asked.some((h) => h.includes('data.gridrec.invalid'))).toBe(true);
    // The local server is exempt: the proxy is not asked again.
    const before = asked.length;
    vi.stubEnv('NO_PROXY', '127.0.0.1');
    vi.stubEnv('no_proxy', '127.0.0.1');
    expect((await fetchSource(source('/good.zip'), tempDir())).verified).toBe(true);
    expect(asked.length).toBe(before);
  });
});
