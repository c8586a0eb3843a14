import { describe, expect, it } from 'vitest';
import { parseVariants, ptxFileName, selectVariant } from '../../src/cuda/kernel-variants.js';

describe('parseVariants', () => {
  it('defaults to sm80 without a directive', () => {
    expect(parseVariants('extern "C" __global__ void k() {}\n', 'k.cu')).toEqual(['sm80']);
  });

  it('reads the directive among the first lines', () => {
    expect(parseVariants('// cce: cut cross-entropy\n//   @variants  sm80 sm90a\n', 'cce.cu')).toEqual(['sm80', 'sm90a']);
  });

  it('names the file and line of an unknown variant, or of one without sm80', () => {
    expect(() => parseVariants('\n// @variants sm80 sm100\n', 'kernels/x.cu')).toThrow(
      /kernels\/x\.cu:2: unknown kernel variant "sm100"/,
    );
    expect(() => parseVariants('// @variants sm90a\n', 'kernels/y.cu')).toThrow(/kernels\/y\.cu:1: @variants must include sm80/);
  });
});

describe('selectVariant', () => {
  it('prefers sm90a on compute capability 9.0 only', () => {
    expect(selectVariant(['sm80', 'sm90a'], { major: 9, minor: 0 })).toBe('sm90a');
    expect(selectVariant(['sm80'], { major: 9, minor: 0 })).toBe('sm80');
    expect(selectVariant(['sm80', 'sm90a'], { major: 8, minor: 9 })).toBe('sm80');
    expect(selectVariant(['sm80', 'sm90a'], { major: 10, minor: 0 })).toBe('sm80');
  });

  it('refuses GPUs older than Ampere with their compute capability', () => {
    expect(() => selectVariant(['sm80'], { major: 7, minor: 5 })).toThrow(/need compute capability 8\.0 or newer; this GPU has 7\.5/);
  });

  it('names files by family and variant', () => {
    expect(ptxFileName('cce', 'sm90a')).toBe('cce.sm90a.ptx');
  });
});
