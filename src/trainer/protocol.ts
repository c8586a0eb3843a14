/**
 * Trainer protocol, version 1 (docs/protocol.md): what the orchestrator hands a trainer
 * child (the environment variables it sets, the trial file) and the events the child writes back, one
 * JSON object per line, on file descriptor 3.
 *
 * This module is shared by both sides and imports nothing at run time (only the `Metrics` type), so
 * the orchestrator can use it without loading any training code.
 */
import type { Metrics } from '../metrics/metrics.js';

/** The protocol version this build speaks. */
export const PROTOCOL_VERSION = 1;

/** Environment variable holding the path of the trial file. */
export const TRIAL_ENV = 'GRID_TRIAL';

/** Environment variable holding the events file descriptor (always 3). */
export const EVENTS_FD_ENV = 'GRID_EVENTS_FD';

/** The file descriptor the child writes events to. */
export const EVENTS_FD = 3;

/**
 * Environment variable capping the CPU backend's threads: the orchestrator shares the cores among
 * parallel CPU trials through it, and a user may set it for `grid run` (their setting wins).
 */
export const CPU_THREADS_ENV = 'GRID_CPU_THREADS';

/** Environment variable through which the orchestrator shows a child only its GPU (empty: none). */
export const VISIBLE_DEVICES_ENV = 'CUDA_VISIBLE_DEVICES';

/** Where a trial runs. */
export interface TrialDevice {
  readonly backend: 'cuda' | 'cpu';
  /** Device ordinal as the child sees it (after CUDA_VISIBLE_DEVICES); 0 for the CPU. */
  readonly ordinal: number;
}

/** The JSON file named by GRID_TRIAL. */
export interface TrialFile {
  readonly protocol: number;
  readonly trial_id: string;
  /** 1-based; 0 for a memory probe (`grid plan --memory`), which is stopped once it has said hello. */
  readonly attempt: number;
  /** The resolved trial config (for the built-in trainer, a `TrialConfig`). */
  readonly config: Record<string, unknown>;
  readonly device: TrialDevice;
  /** A directory the child may write to (checkpoints, scratch); kept after the trial. */
  readonly workdir: string;
  /**
   * Seconds between `heartbeat` events the orchestrator expects; it declares the trial stalled after
   * its stall timeout without any event. @default DEFAULT_HEARTBEAT_INTERVAL_S
   */
  readonly heartbeat_interval_s?: number;
  /**
   * What the sweep ranks trials by: a trainer that stops early or picks a best epoch should follow it
   * (the built-in trainer gets it as `train.monitor` too). Absent in memory probes.
   */
  readonly objective?: { readonly metric: string; readonly direction: 'max' | 'min' };
}

/** Heartbeat interval a child uses when the trial file names none. */
export const DEFAULT_HEARTBEAT_INTERVAL_S = 10;

/** Error kinds a child may report; each maps to a trial state (oom → oom, the rest → failed). */
export type ErrorKind = 'oom' | 'invalid_config' | 'data' | 'internal';

export interface HelloEvent {
  readonly type: 'hello';
  readonly protocol: number;
  readonly trainer: string;
  readonly version: string;
  readonly backend: 'cuda' | 'cpu';
  readonly device_name: string;
  /** The trainer's prediction of its peak allocated bytes, where it can make one. */
  readonly planned_peak_bytes?: number;
}

export interface ProgressEvent {
  readonly type: 'progress';
  readonly epoch: number;
  readonly step: number;
  readonly steps: number;
}

/**
 * Sent periodically even when nothing else happens, so a hung child can be told from a slow one. A write
 * to fd 3 that fails (EPIPE) means the orchestrator is gone: the child should exit at once, since its
 * trial will be re-run by `grid resume` and nothing it computes can be recorded any more.
 */
export interface HeartbeatEvent {
  readonly type: 'heartbeat';
}

export interface EpochEvent {
  readonly type: 'epoch';
  /** 1-based epoch number. */
  readonly epoch: number;
  readonly train_loss: number;
  /** Validation metrics of this epoch. */
  readonly metrics: Metrics;
  /** Wall-clock seconds of the epoch, validation included. */
  readonly epoch_seconds: number;
  /** Peak allocated bytes so far (the meaning of torch.cuda.max_memory_allocated). */
  readonly peak_bytes: number;
  readonly tokens_per_second: number;
}

export interface ResultEvent {
  readonly type: 'result';
  readonly best_epoch: number;
  readonly test: Metrics;
  readonly validation: Metrics;
  readonly peak_bytes: number;
  readonly mean_epoch_seconds: number;
  readonly total_seconds: number;
}

export interface ErrorEvent {
  readonly type: 'error';
  readonly kind: ErrorKind;
  readonly message: string;
}

export type TrainerEvent =
  | HelloEvent
  | ProgressEvent
  | HeartbeatEvent
  | EpochEvent
  | ResultEvent
  | ErrorEvent;

const ERROR_KINDS: ReadonlySet<string> = new Set(['oom', 'invalid_config', 'data', 'internal']);

/**
 * Ranges of event fields. Every number is checked before it reaches runs.db: a value out of range is
 * a protocol violation that fails its trial, never an error of the store that would stop the sweep.
 */
export const EVENT_LIMITS = {
  /** Epoch numbers and step counts. */
  maxCount: 1_000_000_000,
  /** Bytes (peaks): integers up to 2^53, far beyond any device. */
  maxBytes: Number.MAX_SAFE_INTEGER,
  /** Seconds and rates. */
  maxSeconds: 1e12,
  /** Metrics per event. */
  maxMetrics: 1000,
  /** Characters of a metric name (no quote, backslash or control character), of names and versions. */
  maxName: 200,
} as const;

/** A metric name: printable, no double quote or backslash (names become JSON paths in queries). */
const METRIC_NAME = /^[^"\\\u0000-\u001f\u007f]+$/;

type Fields = Record<string, unknown>;
type Bad = (what: string) => never;

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function count(e: Fields, key: string, min: number, bad: Bad): number {
  const v = e[key];
  if (!isFiniteNumber(v) || !Number.isInteger(v) || v < min || v > EVENT_LIMITS.maxCount) {
    bad(`\`${key}\` must be an integer in [${min}, ${EVENT_LIMITS.maxCount}], got ${JSON.stringify(v)}`);
  }
  return v as number;
}

function bytes(e: Fields, key: string, bad: Bad): number {
  const v = e[key];
  if (!isFiniteNumber(v) || v < 0 || v > EVENT_LIMITS.maxBytes) bad(`\`${key}\` must be a number of bytes in [0, 2^53), got ${JSON.stringify(v)}`);
  return Math.round(v as number);
}

function seconds(e: Fields, key: string, bad: Bad): number {
  const v = e[key];
  if (!isFiniteNumber(v) || v < 0 || v > EVENT_LIMITS.maxSeconds) bad(`\`${key}\` must be a number in [0, ${EVENT_LIMITS.maxSeconds}], got ${JSON.stringify(v)}`);
  return v as number;
}

function optional<T>(e: Fields, key: string, read: (e: Fields, key: string, bad: Bad) => T, bad: Bad, fallback: T): T {
  return e[key] === undefined ? fallback : read(e, key, bad);
}

function text(e: Fields, key: string, bad: Bad, required: boolean, max: number = EVENT_LIMITS.maxName): string {
  const v = e[key];
  if (v === undefined && !required) return '';
  if (typeof v !== 'string' || (required && v === '') || v.length > max) bad(`\`${key}\` must be a ${required ? 'non-empty ' : ''}string of at most ${max} characters`);
  return v as string;
}

/** A diverged value is sent as null (JSON has no NaN) and read as NaN. */
function numberOrNull(v: unknown): number | undefined {
  if (v === null) return Number.NaN;
  return isFiniteNumber(v) ? v : undefined;
}

function metrics(e: Fields, key: string, bad: Bad): Metrics {
  const v = e[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(`\`${key}\` must map metric names to numbers`);
  const entries = Object.entries(v);
  if (entries.length > EVENT_LIMITS.maxMetrics) bad(`\`${key}\` has ${entries.length} metrics, more than ${EVENT_LIMITS.maxMetrics}`);
  const out: Metrics = {};
  for (const [name, x] of entries) {
    if (name.length > EVENT_LIMITS.maxName || !METRIC_NAME.test(name)) bad(`\`${key}\`: metric name ${JSON.stringify(name.slice(0, 80))} must be 1 to ${EVENT_LIMITS.maxName} printable characters without " or \\`);
    const n = numberOrNull(x);
    // NaN (null) is allowed in metrics: a diverged run reports it rather than lying.
    if (n === undefined) bad(`\`${key}.${name}\` must be a finite number or null, got ${JSON.stringify(x)}`);
    out[name] = n as number;
  }
  return out;
}

/**
 * Parses one line of the event stream; throws with the reason when the line is not a valid
 * protocol-1 event (so a misbehaving external trainer is reported, not silently ignored). Every
 * field's type and range is checked; unknown fields are ignored (later protocol versions may add some).
 */
export function parseEvent(line: string): TrainerEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error(`event is not JSON: ${line.slice(0, 200)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`event is not an object: ${line.slice(0, 200)}`);
  const e = raw as Fields;
  const bad: Bad = (what) => {
    throw new Error(`${String(e.type)} event: ${what}: ${line.slice(0, 200)}`);
  };
  switch (e.type) {
    case 'hello': {
      const planned = optional(e, 'planned_peak_bytes', bytes, bad, undefined);
      if (e.backend !== 'cuda' && e.backend !== 'cpu') bad('`backend` must be "cuda" or "cpu"');
      return {
        type: 'hello',
        protocol: count(e, 'protocol', 0, bad),
        trainer: text(e, 'trainer', bad, true),
        version: text(e, 'version', bad, false),
        backend: e.backend as 'cuda' | 'cpu',
        device_name: text(e, 'device_name', bad, false),
        ...(planned !== undefined ? { planned_peak_bytes: planned } : {}),
      };
    }
    case 'progress':
      return { type: 'progress', epoch: count(e, 'epoch', 0, bad), step: count(e, 'step', 0, bad), steps: count(e, 'steps', 0, bad) };
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'epoch': {
      const epoch = count(e, 'epoch', 1, bad);
      const loss = numberOrNull(e.train_loss);
      if (loss === undefined) bad('`train_loss` must be a finite number, or null where training diverged');
      return {
        type: 'epoch',
        epoch,
        train_loss: loss as number,
        metrics: metrics(e, 'metrics', bad),
        epoch_seconds: seconds(e, 'epoch_seconds', bad),
        peak_bytes: bytes(e, 'peak_bytes', bad),
        tokens_per_second: optional(e, 'tokens_per_second', seconds, bad, 0),
      };
    }
    case 'result':
      return {
        type: 'result',
        best_epoch: count(e, 'best_epoch', 0, bad),
        test: metrics(e, 'test', bad),
        validation: metrics(e, 'validation', bad),
        peak_bytes: optional(e, 'peak_bytes', bytes, bad, 0),
        mean_epoch_seconds: optional(e, 'mean_epoch_seconds', seconds, bad, 0),
        total_seconds: optional(e, 'total_seconds', seconds, bad, 0),
      };
    case 'error':
      if (typeof e.kind !== 'string' || !ERROR_KINDS.has(e.kind)) {
        bad('`kind` must be one of oom, invalid_config, data, internal');
      }
      return { type: 'error', kind: e.kind as ErrorKind, message: typeof e.message === 'string' ? e.message : '' };
    default:
      throw new Error(`unknown event type ${JSON.stringify(e.type)}: ${line.slice(0, 200)}`);
  }
}
