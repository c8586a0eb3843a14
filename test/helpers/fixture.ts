import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/** The protocol-speaking fake trainer (test/fixtures/fake-trainer.mjs). */
export const FAKE_TRAINER = fileURLToPath(new URL('../fixtures/fake-trainer.mjs', import.meta.url));

/** The built CLI (npm test builds it before vitest runs). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A grid file running the fake trainer; `body` adds sections, grid and limits. */
export function fakeGrid(name: string, body: string): string {
  return `name: ${name}\ntrainer: {command: ${JSON.stringify([process.execPath, FAKE_TRAINER])}}\n${body}`;
}

/** PRAGMA integrity_check of a database file. */
export function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

/** runs.db inside a directory. */
export function dbIn(dir: string): string {
  return join(dir, 'runs.db');
}
