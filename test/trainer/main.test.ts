/**
 * The trainer child as the orchestrator runs it: a trial file in GRID_TRIAL, events on fd 3. An
 * invalid config fails with `invalid_config` before any work; a valid one says hello with its planned
 * peak, reports epochs, and exits 0 after `result`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeSynthetic } from '../../src/data/synth.js';
import { parseEvent, type TrainerEvent } from '../../src/trainer/protocol.js';
import { tempDir } from '../helpers/tmp.js';

const MAIN = fileURLToPath(new URL('../../src/trainer/main.ts', import.meta.url));

async function runChild(dir: string, config: Record<string, unknown>): Promise<{ code: number | null; events: TrainerEvent[]; log: string }> {
  const trialFile = join(dir, 'trial.json');
  writeFileSync(trialFile, JSON.stringify({
    protocol: 1, trial_id: 't1', attempt: 1, config, device: { backend: 'cpu', ordinal: 0 }, workdir: dir, heartbeat_interval_s: 1,
  }));
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, GRID_TRIAL: trialFile, GRID_EVENTS_FD: '3', GRID_CPU_THREADS: '1', XDG_CACHE_HOME: join(dir, 'cache') },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let events = '';
  let log = '';
  child.stdio[3]!.on('data', (b: Buffer) => (events += b.toString()));
  child.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, events: events.split('\n').filter((l) => l !== '').map(parseEvent), log };
}

describe('trainer child (protocol v1)', () => {
  it('fails an invalid config with invalid_config before any work, naming the key', async () => {
    const dir = tempDir();
    const r = await runChild(dir, { dataset: { path: join(dir, 'missing.txt'), format: 'sequences' }, model: { hidden: 16, heads: 3 }, train: { loss: 'ce' } });
    expect(r.code).toBe(1);
    expect(r.events).toEqual([{ type: 'error', kind: 'invalid_config', message: expect.stringMatching(/model\.heads/) }]);
  });

  it('trains a valid trial: hello with the planned peak, epochs, result, exit 0', async () => {
    const dir = tempDir();
    const file = join(dir, 'log.txt');
    writeSynthetic(file, { users: 60, items: 20, interactions: 900, format: 'sequences', seed: 3 });
    const r = await runChild(dir, {
      dataset: { path: file, format: 'sequences', min_item_count: 1 },
      model: { hidden: 8, blocks: 1, max_seq_len: 6 },
      train: { loss: 'cce-', negatives: 4, batch_size: 16, epochs: 2 },
    });
    expect(r.code, r.log).toBe(0);
    const types = r.events.map((e) => e.type).filter((t) => t !== 'progress' && t !== 'heartbeat');
    expect(types).toEqual(['hello', 'epoch', 'epoch', 'result']);
    const hello = r.events[0]!;
    expect(hello).toMatchObject({ type: 'hello', protocol: 1, trainer: 'gridrec', backend: 'cpu' });
    const result = r.events.at(-1)!;
    expect(result.type === 'result' && hello.type === 'hello' && result.peak_bytes === hello.planned_peak_bytes).toBe(true);
    expect(r.log).toMatch(/memory plan \(packed batches of [\d,]+ rows; padded: [\d,]+\):/);
  });
});
