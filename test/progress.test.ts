import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Progress } from '../src/cli/progress.js';
import { planSlots } from '../src/scheduler/devices.js';
import type { TrialRecord } from '../src/store/store.js';

const trial = (id: string): TrialRecord => ({ id, config: {}, trainer: 'builtin', state: 'running', attempts: 1, createdAt: 0, updatedAt: 0 });
const [slot] = planSlots([]);
const epoch = { type: 'epoch', epoch: 2, train_loss: 4.5, metrics: { 'ndcg@10': 0.0412 }, epoch_seconds: 1.5, peak_bytes: 1, tokens_per_second: 1 } as const;

function capture(live: boolean): { progress: Progress; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  const progress = new Progress({ stream, total: 3, metric: 'ndcg@10', label: (id) => `label-${id}`, live });
  return { progress, text: () => text };
}

describe('Progress', () => {
  it('prints plain lines when not on a terminal', () => {
    const { progress, text } = capture(false);
    progress.onEvent({ type: 'start', trial: trial('aaaaaaaaaa'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'epoch', trialId: 'aaaaaaaaaa', attempt: 1, epoch });
    progress.onEvent({ type: 'end', trialId: 'aaaaaaaaaa', attempt: 1, outcome: { state: 'completed' }, retry: false });
    progress.finish();
    expect(text()).toBe(
      'start     aaaaaaaa #1 on cpu  label-aaaaaaaaaa\nepoch     aaaaaaaa 2  ndcg@10=0.0412 loss=4.500 1.500s\ncompleted aaaaaaaa #1  label-aaaaaaaaaa\n',
    );
    expect(progress.totals()).toBe('1/3 done (1 completed), 0 running, 2 waiting');
  });

  it('keeps one live line per running trial and a totals line on a terminal', async () => {
    const { progress, text } = capture(true);
    progress.onEvent({ type: 'start', trial: trial('aaaaaaaaaa'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'start', trial: trial('bbbbbbbbbb'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'progress', trialId: 'bbbbbbbbbb', epoch: 1, step: 7, steps: 20 });
    progress.onEvent({ type: 'epoch', trialId: 'aaaaaaaaaa', attempt: 1, epoch });
    await new Promise((r) => setTimeout(r, 150));
    const block = text().split('\x1b[J').at(-1) as string;
    expect(block).toBe(
        '  aaaaaaaa #1 cpu  epoch 2  ndcg@10 0.0412  label-aaaaaaaaaa\n  bbbbbbbb #1 cpu  epoch 1 step 7/20  label-bbbbbbbbbb\n0/3 done, 2 running, 1 waiting\n',
    );
    progress.onEvent({ type: 'end', trialId: 'aaaaaaaaaa', attempt: 1, outcome: { state: 'oom', error: 'oom: too big' }, retry: false });
    progress.finish();
    expect(text().endsWith('oom       aaaaaaaa #1  label-aaaaaaaaaa: oom: too big\n  bbbbbbbb #1 cpu  epoch 1 step 7/20  label-bbbbbbbbbb\n1/3 done (1 oom), 1 running, 1 waiting\n\x1b[2A\x1b[J')).toBe(true);
  });
});
