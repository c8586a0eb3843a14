import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { colourWanted } from '../src/cli/colour.js';
import { formatClock, Progress, type ProgressOptions } from '../src/cli/progress.js';
import { planSlots } from '../src/scheduler/devices.js';
import type { TrialRecord } from '../src/store/store.js';

const trial = (id: string): TrialRecord => ({ id, config: {}, trainer: 'builtin', state: 'running', attempts: 1, createdAt: 0, updatedAt: 0 });
const [slot] = planSlots([]);
const epoch = { type: 'epoch', epoch: 2, train_loss: 4.5, metrics: { 'ndcg@10': 0.0412 }, epoch_seconds: 1.5, peak_bytes: 1, tokens_per_second: 1 } as const;

/** A fake terminal: a stream with a size and `isTTY`, whose writes are collected. */
function fakeTty(size: { rows?: number; columns?: number; isTTY?: boolean } = {}): { stream: ProgressOptions['stream']; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY: true, ...size });
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

function capture(live: boolean, options: Partial<ProgressOptions> = {}): { progress: Progress; text: () => string } {
  const { stream, text } = fakeTty({ isTTY: live });
  const progress = new Progress({ stream, total: 3, metric: 'ndcg@10', label: (id) => `label-${id}`, live, colour: false, ...options });
  return { progress, text };
}

/** The live block last drawn: the text after the last erase. */
const lastBlock = (text: string): string => text.split('\x1b[J').at(-1) as string;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));

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
    let now = 0;
    const { progress, text } = capture(true, { now: () => now });
    progress.onEvent({ type: 'start', trial: trial('aaaaaaaaaa'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'start', trial: trial('bbbbbbbbbb'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'progress', trialId: 'bbbbbbbbbb', epoch: 1, step: 7, steps: 20 });
    now = 5_000;
    progress.onEvent({ type: 'epoch', trialId: 'aaaaaaaaaa', attempt: 1, epoch });
    await settle();
    expect(lastBlock(text())).toBe(
      '  aaaaaaaa #1 cpu  epoch 2  ndcg@10 0.0412  label-aaaaaaaaaa\n  bbbbbbbb #1 cpu  epoch 1 step 7/20  label-bbbbbbbbbb\n' +
        '  best so far: ndcg@10 0.0412 (trial aaaaaaaa, epoch 2)\n0/3 done, 2 running, 1 waiting; 5s elapsed\n',
    );
    now = 65_000;
    progress.onEvent({ type: 'end', trialId: 'aaaaaaaaaa', attempt: 1, outcome: { state: 'oom', error: 'oom: too big' }, retry: false });
    progress.finish();
    // One trial ended in 65 s, two are left: about 2m10s at that rate.
    expect(text().endsWith(
      'oom       aaaaaaaa #1  label-aaaaaaaaaa: oom: too big\n  bbbbbbbb #1 cpu  epoch 1 step 7/20  label-bbbbbbbbbb\n' +
        '  best so far: ndcg@10 0.0412 (trial aaaaaaaa, epoch 2)\n1/3 done (1 oom), 1 running, 1 waiting; 1m05s elapsed, about 2m10s left\n\x1b[3A\x1b[J',
    )).toBe(true);
  });

  it('clips the live block to the terminal: as many trials as fit, a count of the others, the totals always', async () => {
    const { stream, text } = fakeTty({ rows: 5, columns: 50 });
    const progress = new Progress({ stream, total: 9, metric: 'ndcg@10', label: (id) => `a long label that does not fit the width of ${id}`, colour: false });
    for (const id of ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd', 'eeeeeeeeee', 'ffffffffff']) {
      progress.onEvent({ type: 'start', trial: trial(id), attempt: 1, slot: slot! });
    }
    await settle();
    const block = lastBlock(text()).split('\n').slice(0, -1);
    // 5 rows: one for the cursor, the totals line, two trials and the count of the four others.
    expect(block).toHaveLength(4);
    expect(block.slice(0, 2).map((l) => l.slice(0, 10))).toEqual(['  aaaaaaaa', '  bbbbbbbb']);
    expect(block[2]).toBe('  … and 4 more running');
    expect(block[3]).toMatch(/^0\/9 done, 6 running, 3 waiting; 0s elapsed/);
    for (const line of block) expect(line.length).toBeLessThanOrEqual(49);
    progress.finish();
    // The erase moves up exactly the lines drawn, never past the top of the terminal.
    expect(text().endsWith('\x1b[4A\x1b[J')).toBe(true);
  });

  it('keeps only the totals line on a terminal of two rows', async () => {
    const { stream, text } = fakeTty({ rows: 2, columns: 80 });
    const progress = new Progress({ stream, total: 2, metric: 'loss', label: () => '', colour: false });
    progress.onEvent({ type: 'start', trial: trial('aaaaaaaaaa'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'epoch', trialId: 'aaaaaaaaaa', attempt: 1, epoch });
    progress.onEvent({ type: 'epoch', trialId: 'aaaaaaaaaa', attempt: 1, epoch: { ...epoch, epoch: 3, train_loss: 4.1 } });
    await settle();
    expect(lastBlock(text())).toMatch(/^0\/2 done, 1 running, 1 waiting; \d+s elapsed\n$/);
    // The loss is minimised: the lower one is the best so far.
    expect(progress.best()).toBe('loss 4.100 (trial aaaaaaaa, epoch 3)');
    progress.finish();
  });

  it('colours states on a terminal', () => {
    const { progress, text } = capture(false, { colour: true });
    progress.onEvent({ type: 'end', trialId: 'aaaaaaaaaa', attempt: 1, outcome: { state: 'completed' }, retry: false });
    progress.onEvent({ type: 'end', trialId: 'bbbbbbbbbb', attempt: 1, outcome: { state: 'failed', error: 'boom' }, retry: true });
    expect(text()).toBe(
      '\x1b[32mcompleted\x1b[39m aaaaaaaa #1  label-aaaaaaaaaa\n\x1b[31mfailed   \x1b[39m bbbbbbbb #1  label-bbbbbbbbbb: boom \x1b[33m(retrying)\x1b[39m\n',
    );
  });
});

describe('colourWanted', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('colours a terminal, not a pipe, and nothing when NO_COLOR is set', () => {
    expect(colourWanted({ isTTY: true }, {})).toBe(true);
    expect(colourWanted({}, {})).toBe(false);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    // An empty NO_COLOR does not count (no-color.org).
    expect(colourWanted({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });

  it('a Progress on a terminal with NO_COLOR prints no escape codes but still redraws', async () => {
    vi.stubEnv('NO_COLOR', '1');
    const { stream, text } = fakeTty({ rows: 10, columns: 80 });
    const progress = new Progress({ stream, total: 1, metric: 'ndcg@10', label: () => 'x' });
    progress.onEvent({ type: 'start', trial: trial('aaaaaaaaaa'), attempt: 1, slot: slot! });
    progress.onEvent({ type: 'end', trialId: 'aaaaaaaaaa', attempt: 1, outcome: { state: 'completed' }, retry: false });
    progress.finish();
    expect(text()).toContain('completed aaaaaaaa #1  x\n');
    expect(text()).not.toMatch(/\x1b\[\d+m/);
    expect(text()).toContain('\x1b[J');
  });
});

describe('formatClock', () => {
  it('reads like a clock', () => {
    expect([0, 999, 45_000, 65_000, 3_599_000, 7_380_000].map(formatClock)).toEqual(['0s', '1s', '45s', '1m05s', '59m59s', '2h03m']);
  });
});
