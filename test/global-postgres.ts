/**
 * Vitest global setup: one throwaway PostgreSQL cluster for the whole run (tests each create their
 * own database in it), or the reason there is none, for the PostgreSQL variants to skip with.
 */
import type { TestProject } from 'vitest/node';
import { startCluster } from './helpers/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared cluster's maintenance database URL, or why no cluster could be started. */
    postgres: { readonly url: string } | { readonly reason: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startCluster();
  if (typeof cluster === 'string') {
    project.provide('postgres', { reason: cluster });
    process.stderr.write(`PostgreSQL tests skip: ${cluster}\n`);
    return async () => undefined;
  }
  project.provide('postgres', { url: cluster.url('postgres') });
  return () => cluster.stop();
}
