/**
 * The kernel arguments of matmul's epilogue (ops.ts MatmulEpilogue and its layer norm), as both GEMM
 * families take them (kernels/gemm_epilogue.cuh EPILOGUE_PARAMS and NORM_PARAMS, after the bias): one
 * definition for gemm-kernels.ts and gemm-wg-kernels.ts, which import it (and not each other's launchers:
 * no import cycle).
 */
import type { PointerArg } from '../../cuda/kernel-signature.js';
import type { DType } from '../memory-plan.js';
import type { MatmulEpilogue, MatmulLayerNorm } from '../ops.js';
import { dropoutThreshold } from '../philox.js';
import { deviceTensor } from './cuda-tensor.js';
import { bf16Flag, NULL_PTR, stepCounters } from './launch.js';

/** The epilogue's kernel arguments after the bias (kernels/gemm_epilogue.cuh EPILOGUE_PARAMS). */
export const EPILOGUE_SIGNATURE = [
  'relu:i32', 'drop_threshold:u32', 'drop_scale:f64', 'drop_seed:u32', 'drop_step:u32', 'drop_site:u32', 'step_counters:ptr',
  'gate:ptr', 'gate_bf16:i32', 'gate_scale:f64', 'residual:ptr', 'residual_bf16:i32', 'out_ids:ptr',
] as const;

/** The layer norm's kernel arguments after the epilogue's, GEMM kernels only (kernels/gemm_epilogue.cuh NORM_PARAMS). */
export const NORM_SIGNATURE = [
  'ln_out:ptr', 'ln_out_bf16:i32', 'ln_mean:ptr', 'ln_rstd:ptr', 'ln_weight:ptr', 'ln_bias:ptr', 'ln_eps:f32', 'ln_ids:ptr',
] as const;

/** The values of EPILOGUE_SIGNATURE, in its order. */
export type EpilogueArgs = readonly [
  number, number, number, number, number, number, PointerArg, PointerArg, number, number, PointerArg, number, PointerArg,
];

/** The epilogue that asks for nothing (the bias travels on its own). */
export const NO_EPILOGUE: EpilogueArgs = [0, 0, 1, 0, 0, 0, NULL_PTR, NULL_PTR, 0, 1, NULL_PTR, 0, NULL_PTR];

const FLOATS: readonly DType[] = ['f32', 'bf16'];

/**
 * The kernel arguments of matmul's epilogue on out [m × n], its tensors checked (`what` names the launcher
 * in the messages: "matmul.epilogue.residual").
 */
export function epilogueArgs(e: MatmulEpilogue | undefined, m: number, n: number, what: string): EpilogueArgs {
  if (e === undefined) return NO_EPILOGUE;
  const drop = e.dropout !== undefined && e.dropout.p > 0 ? e.dropout : undefined;
  const gate = e.gate === undefined ? null : deviceTensor(e.gate.by, `${what}.epilogue.gate.by`, FLOATS, m * n);
  const residual = e.residual === undefined ? null : deviceTensor(e.residual, `${what}.epilogue.residual`, FLOATS, m * n);
  const ids = e.padding === undefined ? NULL_PTR : deviceTensor(e.padding, `${what}.epilogue.padding`, ['i32'], m);
  // Key and counter words as uint32 bits, as the CPU's philox4x32 reads them (step reduced mod 2^32).
  return [
    e.relu === true ? 1 : 0,
    drop === undefined ? 0 : dropoutThreshold(drop.p), drop === undefined ? 1 : 1 / (1 - drop.p),
    drop === undefined ? 0 : drop.key.seed >>> 0, drop === undefined ? 0 : drop.key.step >>> 0, drop === undefined ? 0 : drop.key.site >>> 0,
    drop === undefined ? NULL_PTR : stepCounters(drop),
    gate ?? NULL_PTR, gate === null ? 0 : bf16Flag(gate), e.gate?.scale ?? 1,
    residual ?? NULL_PTR, residual === null ? 0 : bf16Flag(residual), ids,
  ];
}

/** The values of NORM_SIGNATURE, in its order. */
export type NormArgs = readonly [PointerArg, number, PointerArg, PointerArg, PointerArg, PointerArg, number, PointerArg];

/** No layer norm in the GEMM (ln_out null). */
export const NO_NORM: NormArgs = [NULL_PTR, 0, NULL_PTR, NULL_PTR, NULL_PTR, NULL_PTR, 0, NULL_PTR];

/**
 * The kernel arguments of the epilogue's layer norm of out [m × n], its tensors checked (layerNormForward's
 * checks; `what` as epilogueArgs').
 */
export function normArgs(ln: MatmulLayerNorm, m: number, n: number, what: string): NormArgs {
  const out = deviceTensor(ln.out, `${what}.epilogue.layerNorm.out`, FLOATS, m * n);
  return [
    out, bf16Flag(out),
    deviceTensor(ln.mean, `${what}.epilogue.layerNorm.mean`, ['f32'], m), deviceTensor(ln.rstd, `${what}.epilogue.layerNorm.rstd`, ['f32'], m),
    deviceTensor(ln.weight, `${what}.epilogue.layerNorm.weight`, ['f32'], n), deviceTensor(ln.bias, `${what}.epilogue.layerNorm.bias`, ['f32'], n),
    ln.eps, ln.ids === undefined ? NULL_PTR : deviceTensor(ln.ids, `${what}.epilogue.layerNorm.ids`, ['i32'], m),
  ];
}
