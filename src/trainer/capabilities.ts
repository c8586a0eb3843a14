/**
 * What the built-in trainer of this build can run on. The orchestrator reads it (this module imports
 * nothing) so that it does not hand a GPU slot to a trainer that cannot use it.
 */

/** Backends the built-in trainer implements for the whole model. */
export const BUILTIN_BACKENDS: readonly ('cpu' | 'cuda')[] = ['cpu'];

/** Why the built-in trainer runs GPU-less in this build, for the line the orchestrator prints. */
export const BUILTIN_NO_CUDA_REASON =
  'the built-in trainer has no CUDA backend for the whole model in this build (only the CCE/CCE-/BCE+ loss kernels)';
