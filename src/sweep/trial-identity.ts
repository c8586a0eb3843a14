/**
 * What a trial id hashes: the canonical config, except that a data file is named by its content, not
 * by where it lies. The same file moved with its project folder (or reached by another path) is the
 * same trial; a file edited in place is another. The stored config keeps the path: the trainer reads it.
 */
import { fingerprint } from '../data/fingerprint.js';
import { trialId, type Canonical, type TrainerSpec } from './canonical.js';

/** Computes trial ids, hashing each data file once however many points read it. */
export class TrialIdentity {
  readonly #contents = new Map<string, string | null>();

  /** The trial id of a canonical config for its trainer. */
  idOf(trainer: TrainerSpec, config: Readonly<Record<string, Canonical>>): string {
    const dataset = config.dataset;
    if (typeof dataset !== 'object' || dataset === null || Array.isArray(dataset)) return trialId(trainer, config);
    const { path, ...rest } = dataset as Record<string, Canonical>;
    const content = typeof path === 'string' ? this.#content(path) : null;
    // A path that names no readable file (not yet there, or not a file to this trainer) identifies by the path.
    if (content === null) return trialId(trainer, config);
    return trialId(trainer, { ...config, dataset: { ...rest, path_content: content } });
  }

  /** `sha256:<hex>:<size>` of the file's content (head and tail beyond 64 MiB, with the size), or null. */
  #content(path: string): string | null {
    let content = this.#contents.get(path);
    if (content === undefined) {
      try {
        const fp = fingerprint(path);
        content = `sha256:${fp.sha256}:${fp.size}`;
      } catch {
        content = null;
      }
      this.#contents.set(path, content);
    }
    return content;
  }
}
