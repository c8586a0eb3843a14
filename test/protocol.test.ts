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
    expect(() => parseEvent('{"type":"epoch","epoch":0}')).toThrow(/`epoch` must be a number/);
  });
});
