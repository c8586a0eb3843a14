/**
 * Precision presets of the CUDA backend, named once. A preset fixes every tensor's
 * dtype before anything is allocated, so the memory plan counts each buffer at its real width:
 * - bf16 (the default): q, k, v, the attention output and the FFN's hidden layer in bf16; GEMMs and the
 *   loss kernels multiply bf16 operands on the tensor cores with fp32 accumulation. The residual stream,
 *   layer norms, parameters (fp32 masters), gradients, Adam's moments and the loss stay fp32.
 * - fp32: every activation fp32 and every GEMM in fp32 arithmetic; for parity tests against the CPU
 *   backend (the streamed loss kernels, cce, cce- and bce+, still take bf16 copies of their operands).
 * The CPU backend computes in fp32 (float64 in its test mode) whatever the preset.
 */
import type { DType } from './memory-plan.js';

/** Names of the presets. */
export const PRECISIONS = ['bf16', 'fp32'] as const;
export type PrecisionName = (typeof PRECISIONS)[number];

/** What a preset decides. */
export interface PrecisionPreset {
  /** Dtype of the activations that feed only GEMMs and attention (Ops.activationDType). */
  readonly narrow: DType;
  /** How GEMMs multiply: bf16 operands on the tensor cores, or fp32 arithmetic. */
  readonly gemm: 'bf16' | 'fp32';
}

/** The presets. */
export const PRECISION_PRESETS: Readonly<Record<PrecisionName, PrecisionPreset>> = {
  bf16: { narrow: 'bf16', gemm: 'bf16' },
  fp32: { narrow: 'f32', gemm: 'fp32' },
};

/** The default preset of the CUDA backend. */
export const DEFAULT_PRECISION: PrecisionName = 'bf16';
