/**
 * train.first_target (the reference's extra target, default true) and the trial ids: the stored config
 * always carries the key, the id leaves it out at false (the behaviour before the key existed), and
 * migration 4 marks the built-in trials stored before as trained without it.
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

const base = { dataset: 'ml-latest-small', train: { loss: 'ce', lr: 0.002 } };

describe('train.first_target', () => {
  it('defaults to true, is validated, and is stored explicitly either way', () => {
    expect(resolveTrialConfig(base).train.first_target).toBe(true);
    expect(canonicalConfig('builtin', base).train).toMatchObject({ first_target: true });
    const off = canonicalConfig('builtin', { ...base, train: { ...base.train, first_target: false } });
    expect(off.train).toMatchObject({ first_target: false });
    // The trainer re-resolves the stored config: it must read the same value back.
    expect(resolveTrialConfig(off as Record<string, unknown>).train.first_target).toBe(false);
    expect(() => resolveTrialConfig({ ...base, train: { ...base.train, first_target: 'yes' } })).toThrow(/^train\.first_target: expected true or false, got "yes"/);
  });

  it('keeps the id a trial had before the key existed when the key is false, and gives the default a new id', () => {
    const off = canonicalConfig('builtin', { ...base, train: { ...base.train, first_target: false } });
    const { first_target: _dropped, ...oldTrain } = off.train as Record<string, unknown>;
    // model.tie_output (at its legacy value true) came later still: the old config had neither key.
    const { tie_output: _tied, ...oldModel } = off.model as Record<string, unknown>;
    const before = createHash('sha256').update(canonicalJson({ trainer: 'builtin', config: { ...off, model: oldModel, train: oldTrain } })).digest('hex');
    expect(trialId('builtin', off)).toBe(before);
    expect(trialId('builtin', canonicalConfig('builtin', base))).not.toBe(before);
    // An external trainer's keys mean what that trainer says: nothing is left out of its ids.
    const ext = { command: ['x'] };
    const a = canonicalConfig(ext, { train: { first_target: false } });
    expect(trialId(ext, a)).not.toBe(trialId(ext, canonicalConfig(ext, { train: {} })));
  });

  it('migration 4 writes first_target false into the built-in trials stored before it, and only those', async () => {
    const path = join(tempDir(), 'runs.db');
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, 3)) old.exec(m);
    old.pragma('user_version = 3');
    const insert = old.prepare(`INSERT INTO trials (id, config, trainer, state, created_at, updated_at) VALUES (?, ?, ?, 'completed', 0, 0)`);
    insert.run('old', JSON.stringify({ dataset: { name: 'x' }, train: { loss: 'ce' } }), '"builtin"');
    insert.run('ext', JSON.stringify({ train: { loss: 'ce' } }), JSON.stringify({ command: ['x'] }));
    old.close();
    const store = await openStore(path, 'read');
    const byId = new Map((await store.listTrials()).map((t) => [t.id, t.config]));
    await store.close();
    expect(byId.get('old')).toEqual({ dataset: { name: 'x' }, train: { loss: 'ce', first_target: false } });
    expect(byId.get('ext')).toEqual({ train: { loss: 'ce' } });
  });
});
