/**
 * The data a report page carries: what `grid report` reads from the store, shaped for the page's
 * table and charts. Shared by the builder (Node) and the page script (web/report-client.ts), so this
 * file imports nothing. Memory is in MiB and times in seconds; absent numbers are null.
 */

/** A config value as the page shows it. */
export type Cell = string | number | null;

/** The per-axis fields of a row: `a0`, `a1`, … for `ReportData.axes` in order. */
export type AxisFields = { readonly [field: `a${number}`]: Cell };

/** A config key whose value differs between the report's trials. */
export interface ReportAxis {
  /** The field holding it in trial and group rows (`a0`, `a1`, …). */
  readonly field: `a${number}`;
  /** Its dotted config path. */
  readonly path: string;
  /** Its short name (`batch_size`), else the path. */
  readonly name: string;
  /** Numbers only (plotted in numeric order) or anything else (plotted as categories). */
  readonly kind: 'number' | 'category';
  /** Whether it gets an effect chart (not for the loss, which is the colour, nor the seed). */
  readonly effect: boolean;
}

/** One trial, whatever its state. */
export interface ReportTrial extends AxisFields {
  readonly id: string;
  /** The first 8 hex digits of the id. */
  readonly short: string;
  readonly state: string;
  /** The report's sweeps that hold it, comma-separated. */
  readonly sweeps: string;
  /** `train.loss`, or "–" for a config without one. */
  readonly loss: string;
  readonly attempts: number;
  /** `key=value` of each axis: a tooltip line. */
  readonly label: string;
  /** 1-based rank among completed trials by the objective; null for others. */
  readonly rank: number | null;
  /** The objective at the best epoch. */
  readonly value: number | null;
  /** The trainer's test value of the objective metric. */
  readonly test: number | null;
  readonly bestEpoch: number | null;
  readonly lastEpoch: number | null;
  /** Validation metrics at the best epoch, by name (`ReportData.metrics`), with `loss`. */
  readonly metrics: { readonly [name: string]: number | null };
  /** Measured peak of the ranked attempt (completed), else of the latest attempt's epochs. */
  readonly peakMiB: number | null;
  /** The peak the trainer planned in its hello (latest attempt that said one). */
  readonly plannedMiB: number | null;
  readonly secondsPerEpoch: number | null;
  /** On the Pareto front of objective against peak memory / against seconds per epoch. */
  readonly paretoMemory: boolean;
  readonly paretoTime: boolean;
  /** Why the latest attempt did not complete, in words (null when it did or has not ended). */
  readonly error: string | null;
  /** The latest attempt's exit code or signal. */
  readonly exit: string | null;
}

/** Completed trials that differ only in their seed: the objective as mean ± std over seeds. */
export interface ReportGroup extends AxisFields {
  readonly loss: string;
  readonly label: string;
  readonly mean: number;
  /** Null below two seeds. */
  readonly std: number | null;
  /** mean − std and mean + std (the mean itself below two seeds). */
  readonly lo: number;
  readonly hi: number;
  readonly n: number;
}

/** Per-epoch values of the attempts a page can draw curves of, column by column (compact). */
export interface ReportCurves {
  /** Index into `ReportData.trials`. */
  readonly trial: readonly number[];
  readonly epoch: readonly number[];
  /** The objective metric (validation). */
  readonly value: readonly (number | null)[];
  readonly loss: readonly (number | null)[];
}

/** A sweep in the report. */
export interface ReportSweep {
  readonly name: string;
  readonly file: string | null;
  readonly objective: string;
  /** Trials by state. */
  readonly counts: { readonly [state: string]: number };
}

/** Everything a report page shows. */
export interface ReportData {
  readonly title: string;
  /** ISO time of the build. */
  readonly generatedAt: string;
  /** The database, as given. */
  readonly db: string;
  readonly sweeps: readonly ReportSweep[];
  readonly objective: { readonly metric: string; readonly direction: 'max' | 'min' };
  /** Validation metric names of the leaderboard, the objective first. */
  readonly metrics: readonly string[];
  readonly axes: readonly ReportAxis[];
  /** Leaderboard order first (completed, by rank), then the others by state. */
  readonly trials: readonly ReportTrial[];
  readonly groups: readonly ReportGroup[];
  /** Whether some group has more than one seed. */
  readonly seeded: boolean;
  readonly curves: ReportCurves;
  /** Trials (indices) whose curves show when the page opens: the best few and those running. */
  readonly curvesShown: readonly number[];
  /** Vega-Lite specs by chart id; their data are named datasets the page fills in. */
  readonly charts: readonly ReportChart[];
  /** Seconds between reloads while a sweep runs (`--watch`); null for a still report. */
  readonly refreshSeconds: number | null;
}

/** One chart: where it goes, its title and its Vega-Lite spec. */
export interface ReportChart {
  readonly id: string;
  /** Which section of the page holds it. */
  readonly section: 'tradeoff' | 'effects' | 'curves' | 'memory';
  readonly title: string;
  /** The datasets it draws from (`trials`, `groups`, `curves`). */
  readonly data: 'trials' | 'groups' | 'curves';
  /** The mark that has one item per drawn row: the page's tests count these. */
  readonly mark: string;
  /** A Vega-Lite spec without data values (the page adds them as named datasets). */
  readonly spec: object;
}
