/**
 * Evaluation over the full catalogue (README, "Metrics"): each user's last L inputs through the
 * model without dropout (Sasrec.forwardLast: the last block for the last position only), the hidden
 * state of the last position scored against every item, the user's whole input history excluded, top
 * K into the metrics accumulator.
 */
import type { Ops, Tensor, TensorGroup } from '../backend/ops.js';
import { evalBatches } from '../data/batches.js';
import { packBatch } from '../data/packing.js';
import type { EvalSet } from '../data/types.js';
import { MetricsAccumulator } from '../metrics/accumulator.js';
import type { Sasrec } from '../model/sasrec.js';
import type { RecordedWork } from './recorded-work.js';
import type { Metrics } from '../metrics/metrics.js';

/** What one evaluation reads and writes on the device. */
export interface EvalTensors {
  /** [rows] i32 input ids of the packed batch (shared with training; its size is the rows). */
  readonly ids: Tensor;
  /** [≥ sequences × 2] i32: the packed batch's (first row, length) per sequence (ops.ts SequenceRows). */
  readonly seqs: Tensor;
  /** The `eval` group: hidden [rows × d], scores [rows × (V+1)], top [users × kMax], row_start [1] (i32). */
  readonly eval: TensorGroup;
  /** The set's histories on the device: offsets [users + 1] and items. */
  readonly historyOffsets: Tensor;
  readonly historyItems: Tensor;
}

/**
 * Metrics of `model` on `set` at the cut-offs `ks`, in batches of up to `rows` users packed into the
 * rows of `t.ids` (a batch that does not fit runs in parts); with `queryToken`
 * (BERT4Rec's mask token) the input is the last L − 1 items followed by it. With `recording`, the full
 * batches (`rows` users) run as its replays; it is kept across evaluations of one set (their histories differ).
 */
export async function evaluate(
  ops: Ops, model: Sasrec, set: EvalSet, t: EvalTensors, ks: readonly number[], rows: number, queryToken?: number,
  recording?: RecordedWork,
): Promise<Metrics> {
  const { items: V, hidden: d, maxLen: L } = model.dims;
  const acc = new MetricsAccumulator({ evalSet: set, numItems: V, ks });
  const kMax = acc.kMax;
  const hidden = t.eval.get('hidden');
  const scores = t.eval.get('scores');
  const top = t.eval.get('top');
  const rowStart = t.eval.get('row_start');
  const users = set.targets.length;
  const layoutRows = t.ids.size;
  for (const batch of evalBatches(set, { batchSize: rows, maxLen: L, ...(queryToken !== undefined ? { queryToken } : {}) })) {
    for (const part of packBatch(batch.inputs, null, batch.rows, L, layoutRows, rows)) {
      ops.write(t.ids, part.ids);
      ops.write(t.seqs, part.seqs);
      // The users' first row in `top` and the histories, on the device: a replayed batch reads it there.
      ops.write(rowStart, Int32Array.of(batch.start + part.first));
      const B = part.sequences;
      const body = (): void => {
        // Only the last position is scored, so only its row of the last block is computed.
        model.forwardLast(hidden, { ids: t.ids, layout: { seqs: t.seqs, rows: layoutRows }, B });
        ops.scoreItems(scores, hidden, model.outputTable, B, V, d);
        ops.topK(top, scores, t.historyOffsets, t.historyItems, rowStart, B, V, kMax);
      };
      if (recording !== undefined && B === rows) recording.run(ops, body);
      else body();
    }
  }
  // One read per evaluation: the device runs every batch without waiting for the host.
  const ids = await ops.readI32(top);
  acc.add(ids.subarray(0, users * kMax), 0, users);
  return acc.result();
}
