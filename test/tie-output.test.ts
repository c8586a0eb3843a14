/**
 * model.tie_output (default true, the tied table of the reference's SASRec) and the trial ids: the
 * stored config always carries the key, the id leaves it out at true (the behaviour before the key
 * existed), and migration 5 marks the built-in trials stored before as tied.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations.js';
import { openStore } from '../src/store/open-store.js';
import { canonicalConfig, canonicalJson, trialId } from '../src/sweep/canonical.js';
import { resolveTrialConfig } from '../src/trainer/config.js';
import { tempDir } from './helpers/tmp.js';

const base = { dataset: 'ml-latest-small', model: { hidden: 32 }, train: { loss: 'gbce' } };

/** The id a config had before model.tie_output existed: the same hash without the key. */
function idWithoutKey(config: Record<string, unknown>): string {
  const { tie_output: _dropped, ...oldModel } = config.model as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson({ trainer: 'builtin', config: { ...config, model: oldModel } })).digest('hex');
}

describe('model.tie_output', () => {
  it('defaults to true, is validated, and is stored explicitly either way', () => {
    expect(resolveTrialConfig(base).model.tie_output).toBe(true);
    expect(canonicalConfig('builtin', base).model).toMatchObject({ tie_output: true });
    const off = canonicalConfig('builtin', { ...base, model: { tie_output: false } });
    expect(resolveTrialConfig(off as Record<string, unknown>).model.tie_output).toBe(false);
    expect(() => resolveTrialConfig({ ...base, model: { tie_output: 1 } })).toThrow(/^model\.tie_output: expected true or false, got 1/);
  });

  it('keeps the ids of existing configs (tied), and gives untied configs their own', () => {
    const tied = canonicalConfig('builtin', base);
    expect(trialId('builtin', tied)).toBe(idWithoutKey(tied));
    expect(trialId('builtin', canonicalConfig('builtin', { ...base, model: { hidden: 32, tie_output: true } }))).toBe(trialId('builtin', tied));
    const untied = canonicalConfig('builtin', { ...base, model: { hidden: 32, tie_output: false } });
    expect(trialId('builtin', untied)).not.toBe(trialId('builtin', tied));
    // The other legacy key still works beside it.
    const noFirst = canonicalConfig('builtin', { ...base, train: { loss: 'gbce', first_target: false } });
    const { first_target: _f, ...oldTrain } = noFirst.train as Record<string, unknown>;
    expect(trialId('builtin', noFirst)).toBe(idWithoutKey({ ...noFirst, train: oldTrain }));
  });

  it('migration 5 writes tie_output true into the built-in trials stored before it, and only those', async () => {
    const path = join(tempDir(), 'runs.db');
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, 4)) old.exec(m);
    old.pragma('user_version = 4');
    const insert = old.prepare(`INSERT INTO trials (id, config, trainer, state, created_at, updated_at) VALUES (?, ?, ?, 'completed', 0, 0)`);
    insert.run('old', JSON.stringify({ dataset: { name: 'x' }, model: { hidden: 8 }, train: { loss: 'ce' } }), '"builtin"');
    insert.run('ext', JSON.stringify({ model: { hidden: 8 } }), JSON.stringify({ command: ['x'] }));
    old.close();
    const store = await openStore(path, 'read');
    const byId = new Map((await store.listTrials()).map((t) => [t.id, t.config]));
    await store.close();
    expect(byId.get('old')).toEqual({ dataset: { name: 'x' }, model: { hidden: 8, tie_output: true }, train: { loss: 'ce' } });
    expect(byId.get('ext')).toEqual({ model: { hidden: 8 } });
  });
});
