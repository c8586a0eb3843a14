import { describe, expect, it } from 'vitest';
import { parseEvent } from '../src/trainer/protocol.js';

describe('parseEvent', () => {
  it('parses an epoch event and keeps its metrics', () => {
    const e = parseEvent(
      JSON.stringify({ type: 'epoch', epoch: 2, train_loss: 3.5, metrics: { 'ndcg@10': 0.1 }, epoch_seconds: 1.5, peak_bytes: 1024 }),
    );
    expect(e).toEqual({
      type: 'epoch', epoch: 2, train_loss: 3.5, metrics: { 'ndcg@10': 0.1 }, epoch_seconds: 1.5, peak_bytes: 1024, tokens_per_second: 0,
    });
  });

  it('rejects malformed lines with the reason', () => {
    expect(() => parseEvent('{oops')).toThrow(/not JSON/);
    expect(() => parseEvent('{"type":"warp"}')).toThrow(/unknown event type "warp"/);
    expect(() => parseEvent('{"type":"error","kind":"boom"}')).toThrow(/`kind` must be one of/);
    expect(() => parseEvent('{"type":"epoch","epoch":0}')).toThrow(/`epoch` must be an integer in \[1, /);
  });

  const epoch = (over: Record<string, unknown>): string =>
    JSON.stringify({ type: 'epoch', epoch: 1, train_loss: 1, metrics: { 'ndcg@10': 0.1 }, epoch_seconds: 1, peak_bytes: 1, ...over });

  it('checks the type and range of every field an event carries', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ epoch: 1.5 }, /`epoch` must be an integer/],
      [{ epoch: 1e300 }, /`epoch` must be an integer/],
      [{ peak_bytes: 1e300 }, /`peak_bytes` must be a number of bytes/],
      [{ peak_bytes: -1 }, /`peak_bytes` must be a number of bytes/],
      [{ epoch_seconds: -2 }, /`epoch_seconds` must be a number/],
      [{ tokens_per_second: 'fast' }, /`tokens_per_second` must be a number/],
      [{ train_loss: 'x' }, /`train_loss` must be a finite number, or null/],
      [{ metrics: { 'a"b': 1 } }, /metric name "a\\"b"/],
      [{ metrics: { ok: 'high' } }, /`metrics\.ok` must be a finite number or null/],
      [{ metrics: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`m${i}`, 1])) }, /1001 metrics, more than 1000/],
    ];
    for (const [over, reason] of cases) expect(() => parseEvent(epoch(over)), JSON.stringify(over).slice(0, 60)).toThrow(reason);
    expect(() => parseEvent('{"type":"hello","protocol":1,"trainer":"t","backend":"cpu","planned_peak_bytes":1e30}')).toThrow(/`planned_peak_bytes`/);
    expect(() => parseEvent('{"type":"hello","protocol":1,"trainer":"","backend":"cpu"}')).toThrow(/`trainer` must be a non-empty string/);
    expect(() => parseEvent('{"type":"progress","epoch":1,"step":-1,"steps":2}')).toThrow(/`step` must be an integer/);
    expect(() => parseEvent('{"type":"result","best_epoch":2.5,"test":{},"validation":{}}')).toThrow(/`best_epoch` must be an integer/);
    expect(() => parseEvent('[1]')).toThrow(/not an object/);
  });

  it('reads null (JSON has no NaN) as a diverged value, and ignores unknown fields', () => {
    const e = parseEvent(epoch({ train_loss: null, metrics: { 'ndcg@10': null }, future_field: 1 }));
    expect(e).toMatchObject({ type: 'epoch', train_loss: Number.NaN, metrics: { 'ndcg@10': Number.NaN } });
    expect(e).not.toHaveProperty('future_field');
  });
});
