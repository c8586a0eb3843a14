import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkKernels,
  checkManifest,
  KERNELS_DIR,
  MANIFEST,
  nvccRelease,
  PTX_DIR,
  type PtxManifest,
} from '../../scripts/build-kernels.js';

// The committed PTX must be what the sources give. Always (no nvcc needed, milliseconds): the
// manifest's digests of every source and PTX file. Where GRIDREC_REBUILD_PTX=1 and the nvcc release
// that built the committed files is on PATH: a full rebuild compared byte for byte (tens of seconds,
// so not in every developer's `npm test`).
const manifest = JSON.parse(readFileSync(join(PTX_DIR, MANIFEST), 'utf8')) as PtxManifest;
const local = nvccRelease();
const rebuildSkip =
  process.env['GRIDREC_REBUILD_PTX'] !== '1'
    ? 'set GRIDREC_REBUILD_PTX=1 to rebuild all PTX with nvcc and compare (tens of seconds)'
    : local === undefined
      ? 'nvcc is not on PATH'
      : local !== manifest.nvcc
        ? `the committed PTX was built by "${manifest.nvcc}", this nvcc is "${local}"`
        : undefined;
if (rebuildSkip !== undefined) console.log(`[skip] full PTX rebuild check: ${rebuildSkip}`);

describe('committed PTX', () => {
  it('matches its sources and the build that wrote it (manifest digests)', () => {
    expect(checkManifest()).toEqual([]);
  });

  it('catches a source changed without a rebuild, a PTX edited by hand, and a stray PTX', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridrec-manifest-'));
    try {
      mkdirSync(join(dir, 'ptx'));
      copyFileSync(join(KERNELS_DIR, 'basic.cu'), join(dir, 'basic.cu'));
      // Every header is an input of every PTX: the copy needs them to match the manifest.
      for (const h of readdirSync(KERNELS_DIR).filter((f) => /\.(cuh|h)$/.test(f))) copyFileSync(join(KERNELS_DIR, h), join(dir, h));
      copyFileSync(join(PTX_DIR, 'basic.sm80.ptx'), join(dir, 'ptx', 'basic.sm80.ptx'));
      const entry = manifest.files['basic.sm80.ptx'];
      writeFileSync(join(dir, 'ptx', MANIFEST), JSON.stringify({ nvcc: manifest.nvcc, files: { 'basic.sm80.ptx': entry } }));
      expect(checkManifest(dir)).toEqual([]);
      appendFileSync(join(dir, 'basic.cu'), '\n// edited\n');
      appendFileSync(join(dir, 'ptx', 'basic.sm80.ptx'), '\n// edited\n');
      writeFileSync(join(dir, 'ptx', 'old.sm80.ptx'), '');
      expect(checkManifest(dir)).toEqual([
        'basic.sm80.ptx: differs from what the build wrote',
        'basic.sm80.ptx: kernels/basic.cu or a header changed since the build',
        'old.sm80.ptx: no source builds it',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(rebuildSkip !== undefined)('is byte for byte what nvcc gives from the sources now', async () => {
    expect(await checkKernels()).toEqual([]);
  }, 300_000);
});
