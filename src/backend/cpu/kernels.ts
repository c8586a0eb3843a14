/**
 * The partitioned kernels the worker pool can run: each takes (…its arguments, part, parts) and
 * returns a partial sum (or nothing). The main thread and every worker import this one table, so a
 * job names a kernel by key and both sides run the same function.
 */
import { attentionBackwardPart, attentionForwardPart, attentionLastPart } from './attention.js';
import { dropoutPart } from './dropout.js';
import { addPart, biasAddPart, biasBackwardPart, reluBackwardPart, reluForwardPart } from './elementwise.js';
import { gemmPart } from './gemm.js';
import { layerNormBackwardPart, layerNormForwardPart } from './layernorm.js';
import { cceBackwardItemsPart, cceBackwardRowsPart, cceForwardPart } from './loss-cce.js';
import { fullLossBackwardItemsPart, fullLossBackwardRowsPart, fullLossForwardPart } from './loss-full.js';
import { cceMinusBackwardPart, cceMinusForwardPart, sampledBackwardPart, sampledForwardPart } from './loss-sampled.js';
import { sceBackwardPart, sceForwardPart } from './loss-sce.js';

/** Every partitioned kernel by name. */
export const KERNELS = {
  gemm: gemmPart,
  add: addPart,
  reluForward: reluForwardPart,
  reluBackward: reluBackwardPart,
  biasAdd: biasAddPart,
  biasBackward: biasBackwardPart,
  dropout: dropoutPart,
  layerNormForward: layerNormForwardPart,
  layerNormBackward: layerNormBackwardPart,
  attentionForward: attentionForwardPart,
  attentionBackward: attentionBackwardPart,
  attentionLast: attentionLastPart,
  fullLossForward: fullLossForwardPart,
  fullLossBackwardRows: fullLossBackwardRowsPart,
  fullLossBackwardItems: fullLossBackwardItemsPart,
  cceForward: cceForwardPart,
  cceBackwardRows: cceBackwardRowsPart,
  cceBackwardItems: cceBackwardItemsPart,
  sampledForward: sampledForwardPart,
  sampledBackward: sampledBackwardPart,
  cceMinusForward: cceMinusForwardPart,
  cceMinusBackward: cceMinusBackwardPart,
  sceForward: sceForwardPart,
  sceBackward: sceBackwardPart,
} as const;

export type KernelName = keyof typeof KERNELS;

/** A kernel's arguments without the trailing (part, parts). */
export type KernelArgs<K extends KernelName> = (typeof KERNELS)[K] extends (...a: [...infer A, number, number]) => unknown ? A : never;

/** Runs part `part` of `parts` of kernel `name`; returns its partial sum (0 for kernels that return nothing). */
export function runKernel<K extends KernelName>(name: K, args: KernelArgs<K>, part: number, parts: number): number {
  // The table's functions differ in signature; `args` was typed against this very key by the caller.
  const fn = KERNELS[name] as unknown as (...a: unknown[]) => number | undefined;
  return fn(...(args as unknown[]), part, parts) ?? 0;
}
