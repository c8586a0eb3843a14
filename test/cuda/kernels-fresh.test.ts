import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkKernels, nvccRelease, plannedOutputs, PTX_DIR, ptxRelease } from '../../scripts/build-kernels.js';

// CI fails when the committed PTX is not what the sources give, wherever nvcc can tell: the same
// nvcc release as the one that built the committed files (other releases emit other PTX).
const local = nvccRelease();
const committed = readdirSync(PTX_DIR)
  .filter((f) => f.endsWith('.ptx'))
  .map((f) => ptxRelease(readFileSync(join(PTX_DIR, f), 'utf8')));
const builtWith = committed[0];
const skipReason =
  local === undefined
    ? 'nvcc is not on PATH'
    : builtWith !== undefined && local !== builtWith
      ? `the committed PTX was built by "${builtWith}", this nvcc is "${local}"`
      : undefined;
if (skipReason !== undefined) console.log(`[skip] PTX freshness check: ${skipReason}`);

describe('committed PTX', () => {
  it('exists for every kernel source and variant', () => {
    const present = new Set(readdirSync(PTX_DIR));
    for (const { output } of plannedOutputs()) expect(present.has(output), `kernels/ptx/${output}`).toBe(true);
  });

  it('was built by one nvcc release', () => {
    expect(new Set(committed).size).toBe(1);
  });

  it.skipIf(skipReason !== undefined)('is what the sources give now (npm run build-kernels)', async () => {
    expect(await checkKernels()).toEqual([]);
  });
});
