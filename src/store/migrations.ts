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
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
