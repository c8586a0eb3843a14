/**
 * The schema of runs.db as a list of migrations; `PRAGMA user_version` holds how many have run. A
 * migration is appended, never edited, once it has shipped: files in the field were made by it.
 */

/** Migration i (0-based) takes a database from schema version i to i + 1. */
export const MIGRATIONS: readonly string[] = [
  // 1: sweeps, trials, their links, attempts and per-epoch rows.
  `
  CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    file TEXT,
    document TEXT NOT NULL,
    objective_metric TEXT NOT NULL,
    objective_direction TEXT NOT NULL CHECK (objective_direction IN ('max', 'min')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
  ) STRICT;

  CREATE TABLE trials (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    trainer TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'failed', 'oom', 'timeout', 'interrupted')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
  ) STRICT;
  CREATE INDEX trials_state ON trials (state);

  CREATE TABLE sweep_trials (
    sweep_id INTEGER NOT NULL REFERENCES sweeps (id),
    trial_id TEXT NOT NULL REFERENCES trials (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, trial_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX sweep_trials_trial ON sweep_trials (trial_id);

  CREATE TABLE attempts (
    trial_id TEXT NOT NULL REFERENCES trials (id),
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'oom', 'timeout', 'interrupted')),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    child_pid INTEGER,
    device TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    heartbeat_interval_s REAL NOT NULL,
    finished_at REAL,
    exit_code INTEGER,
    signal TEXT,
    error TEXT,
    result TEXT,
    PRIMARY KEY (trial_id, attempt)
  ) STRICT;
  CREATE INDEX attempts_state ON attempts (state);

  CREATE TABLE epochs (
    trial_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    train_loss REAL,
    metrics TEXT NOT NULL,
    epoch_seconds REAL NOT NULL,
    peak_bytes INTEGER NOT NULL,
    tokens_per_second REAL NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (trial_id, attempt, epoch),
    FOREIGN KEY (trial_id, attempt) REFERENCES attempts (trial_id, attempt)
  ) STRICT, WITHOUT ROWID;
  `,
  // 2: what each attempt's trainer said in its hello (name, version, device, predicted peak).
  `
  ALTER TABLE attempts ADD COLUMN trainer TEXT;
  ALTER TABLE attempts ADD COLUMN trainer_version TEXT;
  ALTER TABLE attempts ADD COLUMN device_name TEXT;
  ALTER TABLE attempts ADD COLUMN planned_peak_bytes INTEGER;
  `,
  // 3: the final state `pruned` (a trial the sweep's pruner stopped) and the pruner's decisions with
  // their evidence. SQLite cannot change a CHECK in place: trials and attempts are rebuilt (migrate()
  // turns foreign key enforcement off around it and checks the keys before committing).
  `
  CREATE TABLE trials_v3 (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    trainer TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
  ) STRICT;
  INSERT INTO trials_v3 (id, config, trainer, state, attempts, created_at, updated_at)
    SELECT id, config, trainer, state, attempts, created_at, updated_at FROM trials;
  DROP TABLE trials;
  ALTER TABLE trials_v3 RENAME TO trials;
  CREATE INDEX trials_state ON trials (state);

  CREATE TABLE attempts_v3 (
    trial_id TEXT NOT NULL REFERENCES trials (id),
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted')),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    child_pid INTEGER,
    device TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    heartbeat_interval_s REAL NOT NULL,
    finished_at REAL,
    exit_code INTEGER,
    signal TEXT,
    error TEXT,
    result TEXT,
    trainer TEXT,
    trainer_version TEXT,
    device_name TEXT,
    planned_peak_bytes INTEGER,
    PRIMARY KEY (trial_id, attempt)
  ) STRICT;
  INSERT INTO attempts_v3 (trial_id, attempt, state, host, pid, child_pid, device, started_at, heartbeat_at, heartbeat_interval_s,
      finished_at, exit_code, signal, error, result, trainer, trainer_version, device_name, planned_peak_bytes)
    SELECT trial_id, attempt, state, host, pid, child_pid, device, started_at, heartbeat_at, heartbeat_interval_s,
      finished_at, exit_code, signal, error, result, trainer, trainer_version, device_name, planned_peak_bytes FROM attempts;
  DROP TABLE attempts;
  ALTER TABLE attempts_v3 RENAME TO attempts;
  CREATE INDEX attempts_state ON attempts (state);

  CREATE TABLE prune_decisions (
    trial_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    sweep_id INTEGER NOT NULL REFERENCES sweeps (id),
    rule TEXT NOT NULL CHECK (rule IN ('median', 'asha')),
    action TEXT NOT NULL CHECK (action IN ('continue', 'prune')),
    metric TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('max', 'min')),
    value REAL,
    threshold REAL,
    rung INTEGER,
    group_key TEXT NOT NULL,
    compared TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_at REAL NOT NULL,
    PRIMARY KEY (trial_id, attempt, epoch),
    FOREIGN KEY (trial_id, attempt) REFERENCES attempts (trial_id, attempt)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX prune_decisions_sweep ON prune_decisions (sweep_id);
  `,
  // 4: train.first_target (the reference's extra target, on by default) did not exist before: the
  // built-in trials stored until now trained without it, so their configs say so (their ids already
  // leave the key out at false: sweep/canonical.ts LEGACY_VALUES).
  `
  UPDATE trials SET config = json_set(config, '$.train.first_target', json('false'))
    WHERE trainer = '"builtin"' AND json_type(config, '$.train') = 'object'
      AND json_type(config, '$.train.first_target') IS NULL;
  `,
  // 5: model.tie_output (false: a separate output table) did not exist before: the built-in trials
  // stored until now scored with the tied item table, so their configs say so (their ids leave the key
  // out at true: sweep/canonical.ts LEGACY_VALUES).
  `
  UPDATE trials SET config = json_set(config, '$.model.tie_output', json('true'))
    WHERE trainer = '"builtin"' AND json_type(config, '$.model') = 'object'
      AND json_type(config, '$.model.tie_output') IS NULL;
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The same schema for PostgreSQL, migration for migration: entry i takes a PostgreSQL database from
 * version i to i + 1, as `MIGRATIONS[i]` does a SQLite file (table `gridrec_schema` holds the version).
 * Types: REAL → double precision (timestamps, seconds), INTEGER → integer, or bigint for bytes; JSON
 * stays text, so that both engines return it as written. Append to both lists together.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: sweeps, trials, their links, attempts and per-epoch rows.
  `
  CREATE TABLE sweeps (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    file text,
    document text NOT NULL,
    objective_metric text NOT NULL,
    objective_direction text NOT NULL CHECK (objective_direction IN ('max', 'min')),
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
  );

  CREATE TABLE trials (
    id text PRIMARY KEY,
    config text NOT NULL,
    trainer text NOT NULL,
    state text NOT NULL CONSTRAINT trials_state_check CHECK (state IN ('pending', 'running', 'completed', 'failed', 'oom', 'timeout', 'interrupted')),
    attempts integer NOT NULL DEFAULT 0,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
  );
  CREATE INDEX trials_state ON trials (state);

  CREATE TABLE sweep_trials (
    sweep_id integer NOT NULL REFERENCES sweeps (id),
    trial_id text NOT NULL REFERENCES trials (id),
    position integer NOT NULL,
    PRIMARY KEY (sweep_id, trial_id)
  );
  CREATE INDEX sweep_trials_trial ON sweep_trials (trial_id);

  CREATE TABLE attempts (
    trial_id text NOT NULL REFERENCES trials (id),
    attempt integer NOT NULL,
    state text NOT NULL CONSTRAINT attempts_state_check CHECK (state IN ('running', 'completed', 'failed', 'oom', 'timeout', 'interrupted')),
    host text NOT NULL,
    pid integer NOT NULL,
    child_pid integer,
    device text NOT NULL,
    started_at double precision NOT NULL,
    heartbeat_at double precision NOT NULL,
    heartbeat_interval_s double precision NOT NULL,
    finished_at double precision,
    exit_code integer,
    signal text,
    error text,
    result text,
    PRIMARY KEY (trial_id, attempt)
  );
  CREATE INDEX attempts_state ON attempts (state);

  CREATE TABLE epochs (
    trial_id text NOT NULL,
    attempt integer NOT NULL,
    epoch integer NOT NULL,
    train_loss double precision,
    metrics text NOT NULL,
    epoch_seconds double precision NOT NULL,
    peak_bytes bigint NOT NULL,
    tokens_per_second double precision NOT NULL,
    recorded_at double precision NOT NULL,
    PRIMARY KEY (trial_id, attempt, epoch),
    FOREIGN KEY (trial_id, attempt) REFERENCES attempts (trial_id, attempt)
  );
  `,
  // 2: what each attempt's trainer said in its hello.
  `
  ALTER TABLE attempts ADD COLUMN trainer text, ADD COLUMN trainer_version text, ADD COLUMN device_name text,
    ADD COLUMN planned_peak_bytes bigint;
  `,
  // 3: the final state pruned, and the pruner's decisions (PostgreSQL changes a CHECK in place).
  `
  ALTER TABLE trials DROP CONSTRAINT trials_state_check, ADD CONSTRAINT trials_state_check
    CHECK (state IN ('pending', 'running', 'completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted'));
  ALTER TABLE attempts DROP CONSTRAINT attempts_state_check, ADD CONSTRAINT attempts_state_check
    CHECK (state IN ('running', 'completed', 'pruned', 'failed', 'oom', 'timeout', 'interrupted'));

  CREATE TABLE prune_decisions (
    trial_id text NOT NULL,
    attempt integer NOT NULL,
    epoch integer NOT NULL,
    sweep_id integer NOT NULL REFERENCES sweeps (id),
    rule text NOT NULL CHECK (rule IN ('median', 'asha')),
    action text NOT NULL CHECK (action IN ('continue', 'prune')),
    metric text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('max', 'min')),
    value double precision,
    threshold double precision,
    rung integer,
    group_key text NOT NULL,
    compared text NOT NULL,
    reason text NOT NULL,
    decided_at double precision NOT NULL,
    PRIMARY KEY (trial_id, attempt, epoch),
    FOREIGN KEY (trial_id, attempt) REFERENCES attempts (trial_id, attempt)
  );
  CREATE INDEX prune_decisions_sweep ON prune_decisions (sweep_id);
  `,
  // 4: built-in trials stored before train.first_target existed trained without it.
  `
  UPDATE trials SET config = jsonb_set(config::jsonb, '{train,first_target}', 'false'::jsonb)::text
    WHERE trainer = '"builtin"' AND jsonb_typeof(config::jsonb -> 'train') = 'object'
      AND (config::jsonb -> 'train' -> 'first_target') IS NULL;
  `,
  // 5: built-in trials stored before model.tie_output existed scored with the tied item table.
  `
  UPDATE trials SET config = jsonb_set(config::jsonb, '{model,tie_output}', 'true'::jsonb)::text
    WHERE trainer = '"builtin"' AND jsonb_typeof(config::jsonb -> 'model') = 'object'
      AND (config::jsonb -> 'model' -> 'tie_output') IS NULL;
  `,
];

if (POSTGRES_MIGRATIONS.length !== MIGRATIONS.length) {
  throw new Error(`migrations.ts: ${MIGRATIONS.length} SQLite migrations but ${POSTGRES_MIGRATIONS.length} PostgreSQL ones`);
}
