/**
 * Launcher of kernels/adam.cu: one bias-corrected Adam step (no weight decay), with the name and
 * argument order of the Ops method after the stream. The formula and its order of operations are
 * backend/cpu/adam.ts's; the kernel computes in fp32 from constants the host derives in doubles.
 */
import type { KernelSignature } from '../../cuda/kernel-signature.js';
import type { Stream } from '../../cuda/stream.js';
import type { AdamParams, Tensor } from '../ops.js';
import { deviceTensor } from './cuda-tensor.js';
import { checkCount, kernelOf, multiprocessors, NULL_PTR } from './launch.js';

const SIGNATURES = {
  adam_step: [
    'param:ptr', 'm:ptr', 'v:ptr', 'grad:ptr', 'n:i64',
    'lr:f32', 'beta1:f32', 'beta2:f32', 'one_minus_beta1:f32', 'one_minus_beta2:f32', 'eps:f32', 'c1:f32', 'c2:f32', 'vec4:i32',
    'counters:ptr', 'beta1_d:f64', 'beta2_d:f64', 'narrow:ptr',
  ],
} as const satisfies Record<string, KernelSignature>;

/** ADAM_THREADS and ADAM_CTAS_PER_SM of kernels/adam.cu: the grid is at most one wave of resident CTAs. */
const ADAM_THREADS = 256;
const ADAM_CTAS_PER_SM = 5;

/** Throws unless the hyperparameters make a finite step: 0 ≤ beta < 1, eps ≥ 0, step a whole number ≥ 1. */
function checkHyper(hp: AdamParams): void {
  const fail = (what: string, value: number): never => {
    throw new RangeError(`adamStep: expected ${what}, got ${value}`);
  };
  if (!(hp.beta1 >= 0 && hp.beta1 < 1)) fail('beta1 in [0, 1)', hp.beta1);
  if (!(hp.beta2 >= 0 && hp.beta2 < 1)) fail('beta2 in [0, 1)', hp.beta2);
  if (!(hp.eps >= 0)) fail('eps ≥ 0', hp.eps);
  if (!Number.isFinite(hp.lr)) fail('a finite lr', hp.lr);
  if (!(Number.isSafeInteger(hp.step) && hp.step >= 1)) fail('step a whole number ≥ 1 (1-based)', hp.step);
}

/**
 * One Adam step over n elements (all f32): m, v and param updated in place from grad, and hp.narrow
 * (bf16 [n]) overwritten with the new param rounded. Float4 moves where all four tensors are 16-byte
 * aligned (views of a planned group are) and narrow 8-byte aligned, else element by element.
 */
export function adamStep(stream: Stream, param: Tensor, m: Tensor, v: Tensor, grad: Tensor, n: number, hp: AdamParams): void {
  checkCount('adamStep n', n);
  checkHyper(hp);
  const p = deviceTensor(param, 'adamStep.param', ['f32'], n);
  const mm = deviceTensor(m, 'adamStep.m', ['f32'], n);
  const vv = deviceTensor(v, 'adamStep.v', ['f32'], n);
  const g = deviceTensor(grad, 'adamStep.grad', ['f32'], n);
  const narrow = hp.narrow === undefined ? null : deviceTensor(hp.narrow, 'adamStep.narrow', ['bf16'], n);
  const vec4 = [p, mm, vv, g].every((t) => t.ptr % 16n === 0n) && (narrow === null || narrow.ptr % 8n === 0n);
  const work = vec4 ? Math.ceil(n / 4) : n;
  const grid = Math.max(1, Math.min(Math.ceil(work / ADAM_THREADS), ADAM_CTAS_PER_SM * multiprocessors()));
  kernelOf('adam', 'adam_step', SIGNATURES.adam_step).launch(
    { grid, block: ADAM_THREADS, stream },
    p, mm, vv, g, n,
    hp.lr, hp.beta1, hp.beta2, 1 - hp.beta1, 1 - hp.beta2, hp.eps, 1 - hp.beta1 ** hp.step, 1 - hp.beta2 ** hp.step, vec4 ? 1 : 0,
    hp.counters === undefined ? NULL_PTR : deviceTensor(hp.counters, 'adamStep.counters', ['i32'], 2), hp.beta1, hp.beta2,
    narrow ?? NULL_PTR,
  );
}
