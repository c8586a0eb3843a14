/**
 * The PTX variants of a kernel family, shared by the kernel build (scripts/build-kernels.ts) and the
 * loader.
 *
 * Every kernels/<family>.cu is built for `sm80`: PTX for compute_80, which the driver JIT-compiles
 * for any GPU of compute capability 8.0 or newer (Ampere, Ada, Hopper, Blackwell). A family may opt
 * in to more variants with a directive among its first lines:
 *
 *     // @variants sm80 sm90a
 *
 * `sm90a` is PTX for compute_90a (Hopper-only instructions: wgmma, setmaxnreg, …); it runs on
 * compute capability 9.0 exactly, and the loader prefers it there. Output: kernels/ptx/<family>.<variant>.ptx.
 */
import type { ComputeCapability } from './device.js';

/** The variants and the nvcc virtual architecture each is built for. */
export const KERNEL_VARIANTS = {
  sm80: { arch: 'compute_80' },
  sm90a: { arch: 'compute_90a' },
} as const;

export type KernelVariant = keyof typeof KERNEL_VARIANTS;

/** The variant every family has. */
export const PORTABLE_VARIANT: KernelVariant = 'sm80';

const DIRECTIVE = /^\s*\/\/\s*@variants\b(.*)$/;
/** The directive must come within this many lines of the top. */
const DIRECTIVE_LINES = 30;

/** The variants a .cu source asks for: its `// @variants` directive, or just sm80. */
export function parseVariants(source: string, file: string): KernelVariant[] {
  const lines = source.split('\n').slice(0, DIRECTIVE_LINES);
  for (const [index, line] of lines.entries()) {
    const match = DIRECTIVE.exec(line);
    if (match === null) continue;
    const names = (match[1] ?? '').trim().split(/\s+/).filter((n) => n !== '');
    for (const name of names) {
      if (!(name in KERNEL_VARIANTS)) {
        throw new Error(
          `${file}:${index + 1}: unknown kernel variant "${name}" in @variants; known: ${Object.keys(KERNEL_VARIANTS).join(', ')}`,
        );
      }
    }
    if (!names.includes(PORTABLE_VARIANT)) {
      throw new Error(`${file}:${index + 1}: @variants must include ${PORTABLE_VARIANT}, the variant every GPU can run`);
    }
    return [...new Set(names)] as KernelVariant[];
  }
  return [PORTABLE_VARIANT];
}

/** The PTX file name of a family's variant: "cce.sm90a.ptx". */
export function ptxFileName(family: string, variant: KernelVariant): string {
  return `${family}.${variant}.ptx`;
}

/** The oldest compute capability the kernels run on (Ampere). */
export const MIN_COMPUTE_CAPABILITY: ComputeCapability = { major: 8, minor: 0 };

/** Whether a device of this compute capability can run gridrec's kernels. */
export function supportsComputeCapability(cc: ComputeCapability): boolean {
  return cc.major * 10 + cc.minor >= MIN_COMPUTE_CAPABILITY.major * 10 + MIN_COMPUTE_CAPABILITY.minor;
}

/** The best of the `available` variants for a device: sm90a on compute capability 9.0, else sm80. */
export function selectVariant(available: readonly KernelVariant[], cc: ComputeCapability): KernelVariant {
  if (!supportsComputeCapability(cc)) {
    throw new Error(
      `gridrec's kernels need compute capability ${MIN_COMPUTE_CAPABILITY.major}.${MIN_COMPUTE_CAPABILITY.minor} or newer; ` +
        `this GPU has ${cc.major}.${cc.minor}`,
    );
  }
  if (cc.major === 9 && cc.minor === 0 && available.includes('sm90a')) return 'sm90a';
  if (!available.includes(PORTABLE_VARIANT)) throw new Error(`no ${PORTABLE_VARIANT} variant among ${available.join(', ')}`);
  return PORTABLE_VARIANT;
}
