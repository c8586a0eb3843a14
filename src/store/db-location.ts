/** What `--db` names: a SQLite file, or a PostgreSQL server by URL. */

/** Whether `location` is a PostgreSQL URL (postgres:// or postgresql://) rather than a SQLite path. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
