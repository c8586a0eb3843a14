/**
 * Trainer protocol, version 1 (DESIGN.md, "Trainer protocol"): what the orchestrator hands a trainer
 * child and the events the child writes back, one JSON object per line, on file descriptor 3.
 *
 * This module is shared by both sides and imports nothing, so the orchestrator can use it without
 * loading any training code.
 */

/** The protocol version this build speaks. */
export const PROTOCOL_VERSION = 1;

/** Environment variable holding the path of the trial file. */
export const TRIAL_ENV = 'GRID_TRIAL';

/** Environment variable holding the events file descriptor (always 3). */
export const EVENTS_FD_ENV = 'GRID_EVENTS_FD';

/** The file descriptor the child writes events to. */
export const EVENTS_FD = 3;

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
}

/** Heartbeat interval a child uses when the trial file names none. */
export const DEFAULT_HEARTBEAT_INTERVAL_S = 10;

/** Metric name → value, named `<metric>@<k>` ("ndcg@10", "hr@10", "coverage@10", …). */
export type Metrics = Record<string, number>;

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

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function isMetrics(v: unknown): v is Metrics {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  // NaN is allowed in metrics: a diverged run reports it rather than lying.
  return Object.values(v).every((x) => typeof x === 'number');
}

/**
 * Parses one line of the event stream; throws with the reason when the line is not a valid
 * protocol-1 event (so a misbehaving external trainer is reported, not silently ignored).
 */
export function parseEvent(line: string): TrainerEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error(`event is not JSON: ${line.slice(0, 200)}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new Error(`event is not an object: ${line.slice(0, 200)}`);
  const e = raw as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new Error(`${String(e.type)} event: ${what}: ${line.slice(0, 200)}`);
  };
  switch (e.type) {
    case 'hello':
      if (!isFiniteNumber(e.protocol)) bad('`protocol` must be a number');
      if (typeof e.trainer !== 'string') bad('`trainer` must be a string');
      if (e.backend !== 'cuda' && e.backend !== 'cpu') bad('`backend` must be "cuda" or "cpu"');
      if (e.planned_peak_bytes !== undefined && !isFiniteNumber(e.planned_peak_bytes)) {
        bad('`planned_peak_bytes` must be a number');
      }
      return {
        type: 'hello',
        protocol: e.protocol as number,
        trainer: e.trainer as string,
        version: typeof e.version === 'string' ? e.version : '',
        backend: e.backend as 'cuda' | 'cpu',
        device_name: typeof e.device_name === 'string' ? e.device_name : '',
        ...(e.planned_peak_bytes !== undefined ? { planned_peak_bytes: e.planned_peak_bytes as number } : {}),
      };
    case 'progress':
      if (!isFiniteNumber(e.epoch) || !isFiniteNumber(e.step) || !isFiniteNumber(e.steps)) {
        bad('`epoch`, `step` and `steps` must be numbers');
      }
      return { type: 'progress', epoch: e.epoch as number, step: e.step as number, steps: e.steps as number };
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'epoch':
      if (!isFiniteNumber(e.epoch) || e.epoch < 1) bad('`epoch` must be a number ≥ 1');
      if (typeof e.train_loss !== 'number') bad('`train_loss` must be a number');
      if (!isMetrics(e.metrics)) bad('`metrics` must map names to numbers');
      if (!isFiniteNumber(e.epoch_seconds)) bad('`epoch_seconds` must be a number');
      if (!isFiniteNumber(e.peak_bytes)) bad('`peak_bytes` must be a number');
      return {
        type: 'epoch',
        epoch: e.epoch as number,
        train_loss: e.train_loss as number,
        metrics: e.metrics as Metrics,
        epoch_seconds: e.epoch_seconds as number,
        peak_bytes: e.peak_bytes as number,
        tokens_per_second: isFiniteNumber(e.tokens_per_second) ? e.tokens_per_second : 0,
      };
    case 'result':
      if (!isFiniteNumber(e.best_epoch)) bad('`best_epoch` must be a number');
      if (!isMetrics(e.test) || !isMetrics(e.validation)) bad('`test` and `validation` must map names to numbers');
      return {
        type: 'result',
        best_epoch: e.best_epoch as number,
        test: e.test as Metrics,
        validation: e.validation as Metrics,
        peak_bytes: isFiniteNumber(e.peak_bytes) ? e.peak_bytes : 0,
        mean_epoch_seconds: isFiniteNumber(e.mean_epoch_seconds) ? e.mean_epoch_seconds : 0,
        total_seconds: isFiniteNumber(e.total_seconds) ? e.total_seconds : 0,
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
