/**
 * The committed PTX of kernels/ptx, loaded by family name: the variant is picked by the device's
 * compute capability (kernel-variants.ts) and each family is loaded once per context.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaModule } from './cuda-module.js';
import type { ComputeCapability } from './device.js';
import { KERNEL_VARIANTS, ptxFileName, selectVariant, type KernelVariant } from './kernel-variants.js';

/** kernels/ptx of this package: two levels up from both src/cuda and dist/cuda. */
export function kernelsDirectory(): string {
  return fileURLToPath(new URL('../../kernels/ptx/', import.meta.url));
}

/** The variants of a family present in a PTX directory. */
export function availableVariants(family: string, directory: string): KernelVariant[] {
  const files = new Set(readdirSync(directory));
  return (Object.keys(KERNEL_VARIANTS) as KernelVariant[]).filter((v) => files.has(ptxFileName(family, v)));
}

/** The kernel families of one context. */
export class KernelModules {
  readonly #computeCapability: ComputeCapability;
  readonly #directory: string;
  readonly #loaded = new Map<string, CudaModule>();

  /**
   * @param directory where the PTX files are. @default kernelsDirectory()
   */
  constructor(computeCapability: ComputeCapability, directory: string = kernelsDirectory()) {
    this.#computeCapability = computeCapability;
    this.#directory = directory;
  }

  /** The module of a kernel family ("basic", "cce", …), loaded on first use. */
  load(family: string): CudaModule {
    const known = this.#loaded.get(family);
    if (known !== undefined) return known;
    const variant = this.variantOf(family);
    const ptx = readFileSync(join(this.#directory, ptxFileName(family, variant)), 'utf8');
    const module = CudaModule.fromPtx(ptx, `${family}.${variant}`);
    this.#loaded.set(family, module);
    return module;
  }

  /** The variant `load` picks for a family on this device. */
  variantOf(family: string): KernelVariant {
    if (!/^[a-z0-9_-]+$/.test(family)) throw new Error(`Expected a kernel family name like "cce", got "${family}"`);
    const available = availableVariants(family, this.#directory);
    if (available.length === 0) {
      throw new Error(`no PTX for kernel family "${family}" in ${this.#directory}; build it with npm run build-kernels`);
    }
    return selectVariant(available, this.#computeCapability);
  }

  /** Unloads every module (the context is closing). */
  unloadAll(): void {
    for (const module of this.#loaded.values()) module.unload();
    this.#loaded.clear();
  }
}
