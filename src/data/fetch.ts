/**
 * `grid data fetch`: downloads a registered data set into the cache directory, resuming an
 * interrupted download with an HTTP Range request, verifying the file against its registered
 * checksum (or printing the sha256 it measured where the publisher states none), and extracting the
 * interactions member of a zip. Manual sources (behind a login) are placed from a local file.
 *
 * Downloads go through undici: a stalled socket (no byte for `stallTimeoutMs`) fails the attempt
 * instead of hanging for ever, and the usual proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, in
 * either case) are honoured, as curl and pip honour them.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, errors, interceptors, request, type Dispatcher } from 'undici';
import { DataError, DownloadError } from './data-error.js';
import { downloadDir } from './locations.js';
import { REGISTRY, registeredNames, type Checksum, type HttpSource } from './registry.js';
import { extractZipMember } from './zip-member.js';

/** Options of `fetchSource` and `fetchDataset`. */
export interface FetchOptions {
  /** Download from here instead of the registered URL (a mirror); the registered checksum still applies. */
  readonly url?: string;
  /** Attempts, each resuming where the last stopped. @default 5 */
  readonly attempts?: number;
  /** Wait before attempt k+1 is k times this. @default 1000 */
  readonly retryDelayMs?: number;
  /** Receives progress lines. @default ignore */
  readonly report?: (line: string) => void;
  /**
   * Receives the bytes of the download so far (counting a resumed part), at most every
   * `PROGRESS_INTERVAL_MS` and once when an attempt's body ends. @default ignore
   */
  readonly progress?: (bytes: DownloadProgress) => void;
  /** An attempt fails when the server sends nothing (connection, headers or body) for this long. @default 30000 */
  readonly stallTimeoutMs?: number;
}

/** How far a download is. */
export interface DownloadProgress {
  readonly received: number;
  /** The whole file's size, where the server says (Content-Length, Content-Range). */
  readonly total: number | undefined;
}

/** Minimum time between two `progress` calls. */
export const PROGRESS_INTERVAL_MS = 250;

/** The outcome of a fetch. */
export interface FetchResult {
  /** The interactions file the loader reads. */
  readonly file: string;
  /** The downloaded (or placed) file's sha256. */
  readonly sha256: string;
  /** Whether a registered checksum was verified (false where none is registered). */
  readonly verified: boolean;
}

const MAX_REDIRECTS = 5;

/** The digest of a file with one algorithm, plus its sha256 (computed in the same pass). */
async function hashFile(file: string, algorithm: Checksum['algorithm']): Promise<{ hex: string; sha256: string }> {
  const main = createHash(algorithm);
  const sha = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) {
    main.update(chunk as Buffer);
    sha.update(chunk as Buffer);
  }
  return { hex: main.digest('hex'), sha256: sha.digest('hex') };
}

/**
 * The dispatcher of one fetch: the proxy from the environment, redirects followed, and every wait
 * (connecting, headers, each body chunk) bounded by `stallMs`.
 */
function dispatcher(stallMs: number): Dispatcher {
  return new EnvHttpProxyAgent({ connect: { timeout: stallMs }, headersTimeout: stallMs, bodyTimeout: stallMs }).compose(
    interceptors.redirect({ maxRedirections: MAX_REDIRECTS }),
  );
}

/** An undici error in words a user can act on (a stall says how long nothing came). */
function describeFailure(err: unknown, stallMs: number): string {
  if (err instanceof errors.BodyTimeoutError || err instanceof errors.HeadersTimeoutError || err instanceof errors.ConnectTimeoutError) {
    return `stalled: nothing received for ${stallMs / 1000} s`;
  }
  return (err as Error).message;
}

/** A header's single value. */
function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One download attempt into `part`, appending from its current size when the server honours the
 * Range request (206) and restarting when it does not (200). Rejects on a dropped or stalled
 * connection, leaving what arrived in `part` for the next attempt.
 */
async function downloadOnce(url: string, part: string, agent: Dispatcher, progress: (bytes: DownloadProgress) => void): Promise<void> {
  const have = existsSync(part) ? statSync(part).size : 0;
  const res = await request(url, { dispatcher: agent, headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  const status = res.statusCode;
  if (status === 416 && have > 0) {
    // Nothing left to send: the partial file is complete (verification decides).
    await res.body.dump();
    return;
  }
  if (status !== 200 && status !== 206) {
    await res.body.dump();
    throw new DownloadError(url, `HTTP ${status}`);
  }
  const append = status === 206;
  const range = header(res.headers, 'content-range') ?? '';
  if (append && !range.startsWith(`bytes ${have}-`)) {
    await res.body.dump();
    rmSync(part, { force: true });
    throw new Error(`the server answered a different range (${range === '' ? 'none' : range}); restarting`);
  }
  const expected = Number(header(res.headers, 'content-length') ?? Number.NaN);
  const start = append ? have : 0;
  const total = Number.isFinite(expected) ? start + expected : undefined;
  const out = createWriteStream(part, { flags: append ? 'a' : 'w' });
  let received = 0;
  let reported = 0;
  try {
    // Iterating throws when the connection drops or stalls mid-body.
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      if (!out.write(chunk)) await once(out, 'drain');
      if (Date.now() - reported >= PROGRESS_INTERVAL_MS) {
        reported = Date.now();
        progress({ received: start + received, total });
      }
    }
  } finally {
    // Flush what did arrive, so the next attempt resumes after it.
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    progress({ received: start + received, total });
  }
  if (Number.isFinite(expected) && received < expected) throw new Error(`connection dropped after ${received} of ${expected} bytes`);
}

/** Verifies `file` against `checksum`; returns its sha256. Throws (and deletes the file) on a mismatch. */
async function verify(file: string, checksum: Checksum | undefined, report: (line: string) => void): Promise<{ sha256: string; verified: boolean }> {
  const { hex, sha256 } = await hashFile(file, checksum?.algorithm ?? 'sha256');
  if (checksum === undefined) {
    report(`no published checksum for ${basename(file)}: sha256 ${sha256} (unverified)`);
    return { sha256, verified: false };
  }
  if (hex !== checksum.hex) {
    rmSync(file, { force: true });
    throw new DataError(file, `${checksum.algorithm} mismatch: expected ${checksum.hex}, got ${hex}; the file was deleted, fetch again`);
  }
  report(`${checksum.algorithm} verified (${checksum.origin}): ${hex}`);
  return { sha256, verified: true };
}

/** Downloads, verifies and (for zips) extracts an HTTP source into `dir`. */
export async function fetchSource(source: HttpSource, dir: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const report = opts.report ?? ((): void => {});
  const url = opts.url ?? source.url;
  mkdirSync(dir, { recursive: true });
  const target = join(dir, source.download);
  const part = `${target}.part`;
  let result: { sha256: string; verified: boolean } | undefined;
  if (existsSync(target)) {
    try {
      result = await verify(target, source.checksum, report);
    } catch (err) {
      report(`${(err as Error).message}`);
    }
  }
  if (result === undefined) {
    const attempts = opts.attempts ?? 5;
    const stallMs = opts.stallTimeoutMs ?? 30_000;
    const agent = dispatcher(stallMs);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          report(`downloading ${url}${existsSync(part) ? ` (resuming at ${statSync(part).size} bytes)` : ''}`);
          await downloadOnce(url, part, agent, opts.progress ?? ((): void => {}));
          break;
        } catch (err) {
          if (err instanceof DataError) throw err;
          const why = describeFailure(err, stallMs);
          if (attempt >= attempts) throw new DownloadError(url, `download failed after ${attempt} attempts: ${why}`);
          report(`attempt ${attempt} failed (${why}); resuming`);
          await sleep(attempt * (opts.retryDelayMs ?? 1000));
        }
      }
    } finally {
      await agent.close();
    }
    result = await verify(part, source.checksum, report);
    renameSync(part, target);
  }
  return { file: await extractMember(source, dir, target, report), ...result };
}

/** Extracts a zip source's member next to the download; returns the file the loader reads. */
async function extractMember(source: HttpSource, dir: string, download: string, report: (line: string) => void): Promise<string> {
  if (source.member === undefined) return download;
  const file = join(dir, basename(source.member));
  report(`extracting ${source.member}`);
  await extractZipMember(download, source.member, file);
  return file;
}

/**
 * Fetches a registered data set into `<cacheDir>/downloads/<name>/`. `from` places a local copy of
 * a manual source's file (or of an HTTP source's download) instead of downloading.
 */
export async function fetchDataset(name: string, cacheDir: string, opts: FetchOptions & { readonly from?: string } = {}): Promise<FetchResult> {
  const entry = REGISTRY.get(name);
  if (entry === undefined) throw new DataError(name, `unknown data set; registered: ${registeredNames().join(', ')}`);
  const src = entry.source;
  const dir = downloadDir(cacheDir, name);
  if (src.kind === 'embedded') throw new DataError(name, `embedded in the package (${src.file}): nothing to fetch`);
  if (opts.from !== undefined) {
    if (!existsSync(opts.from)) throw new DataError(opts.from, 'no such file');
    const report = opts.report ?? ((): void => {});
    mkdirSync(dir, { recursive: true });
    const target = join(dir, src.download);
    copyFileSync(opts.from, `${target}.part`);
    const result = await verify(`${target}.part`, src.kind === 'http' ? src.checksum : undefined, report);
    renameSync(`${target}.part`, target);
    return { file: src.kind === 'http' ? await extractMember(src, dir, target, report) : target, ...result };
  }
  if (src.kind === 'manual') throw new DataError(name, `${src.instructions} Download page: ${src.page}`);
  return fetchSource(src, dir, opts);
}
