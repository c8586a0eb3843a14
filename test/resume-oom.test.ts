/** `grid resume --retry-oom`: trials that ran out of memory run again only when asked. */
import { describe, expect, it } from 'vitest';
import { gridDone } from './helpers/cli.js';
import { project } from './hardening/helpers.js';

describe('grid resume --retry-oom', () => {
  it('leaves oom trials alone by default and runs them again with the flag', async () => {
    const dir = project('fixture: {epochs: 1, epoch_ms: 1}\nlimits: {max_attempts: 3}\ngrid:\n  fixture.mode: [finish, oom-first]\n');
    const run = await gridDone(dir, 'run', 'g.yaml');
    // oom is not retried within a run, whatever max_attempts says: the same memory would fail again.
    expect(run.code, run.output).toBe(1);
    expect(run.output).toMatch(/1 oom/);
    const plain = await gridDone(dir, 'resume', 'g', '--retry-failed');
    expect(plain.output).toMatch(/requeued none; 0 to run/);
    const retried = await gridDone(dir, 'resume', 'g', '--retry-oom');
    expect(retried.code, retried.output).toBe(0);
    expect(retried.output).toMatch(/requeued 1 oom; 1 to run/);
    const status = JSON.parse((await gridDone(dir, 'status', '--format', 'json')).output) as { sweeps: { counts?: Record<string, number> }[] };
    expect(JSON.stringify(status.sweeps[0])).toMatch(/"completed":2/);
  });
});
