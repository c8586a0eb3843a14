import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuOps } from '../../src/backend/cpu/cpu-ops.js';
import { topK } from '../../src/backend/cuda/topk-kernels.js';
import { upload } from '../../src/cuda/memory.js';
import { Stream } from '../../src/cuda/stream.js';
import { cpuOracle, deviceGroup, get, put } from './device-tensors.js';
import { announceSkip, noGpu, useContext } from './gpu.js';

announceSkip('test/gpu/topk.test.ts');

/** A NaN with a payload no arithmetic makes (negative, all ones): it must rank as -Infinity like any NaN. */
const ODD_NAN_BITS = 0xffffffff;

/** How a row's scores are drawn; every case cycles through all of them. */
const MODES = ['ties', 'rising', 'falling', 'mostly-nan'] as const;
type Mode = (typeof MODES)[number];

interface Case {
  readonly V: number;
  readonly K: number;
  readonly B: number;
  readonly rowStart: number;
  /** History rows in the CSR (≥ rowStart + B; the rows after the call's must stay untouched). */
  readonly users: number;
}

// V < K (padding), V = 50,001 (25 tiles, the last one partial) with K = 1, 10, 100, an odd V barely
// past one tile, V past the first exclusion window (rising rows rank the ids around it first), and
// rowStart > 0 everywhere.
const CASES: Case[] = [
  { V: 7, K: 10, B: 9, rowStart: 3, users: 15 },
  { V: 65_600, K: 100, B: 8, rowStart: 4, users: 13 },
  { V: 50_001, K: 100, B: 13, rowStart: 5, users: 21 },
  { V: 50_001, K: 10, B: 11, rowStart: 1, users: 12 },
  { V: 50_001, K: 1, B: 9, rowStart: 2, users: 14 },
  { V: 2_049, K: 100, B: 17, rowStart: 7, users: 30 },
];

/** One row's scores [V + 1] as float32 bits (so NaN payloads survive): column 0 is random, never selected. */
function rowScores(mode: Mode, V: number): Float32Array {
  const s = new Float32Array(V + 1);
  const bits = new Uint32Array(s.buffer);
  for (let i = 0; i <= V; i++) {
    // Few distinct values: most items tie with many others, so the id order decides.
    const coarse = Math.round((Math.random() * 2 - 1) * 8) / 4;
    switch (mode) {
      case 'ties':
        s[i] = coarse;
        break;
      case 'rising': // a new best every item: the candidate buffer fills and merges every tile
        s[i] = i;
        break;
      case 'falling':
        s[i] = -i;
        break;
      case 'mostly-nan': // fewer finite scores than K in small rows: -Infinity and NaN fill the rest by id
        s[i] = Math.random() < 0.995 ? (Math.random() < 0.5 ? NaN : -Infinity) : coarse;
        break;
    }
    const r = Math.random();
    if (r < 0.02) s[i] = NaN;
    else if (r < 0.04) s[i] = -Infinity;
    else if (r < 0.045) s[i] = Infinity;
    else if (r < 0.06) s[i] = -0;
    else if (r < 0.07) bits[i] = ODD_NAN_BITS;
  }
  return s;
}

/**
 * A history row: empty, short, long (duplicates included), low ids only (the first tiles), or every
 * item; the short and long ones also hold the first and last ids and those around the kernel's first
 * exclusion window boundary (TOPK_WINDOW = 65,536).
 */
function historyRow(u: number, V: number): number[] {
  const pick = (n: number, top: number): number[] => Array.from({ length: n }, () => 1 + Math.floor(Math.random() * top));
  const edges = [1, 65_535, 65_536, 65_537, V].filter((i) => i <= V);
  switch (u % 6) {
    case 0:
      return [];
    case 1:
      return [...edges, ...pick(1, V)];
    case 2:
      return [...pick(Math.min(50, V), V), ...edges];
    case 3:
      return [...edges, ...pick(3000, V)];
    case 4:
      return pick(2500, Math.min(V, 4096));
    default:
      return u % 12 === 5 ? Array.from({ length: V }, (_, i) => V - i) : pick(V - Math.min(V, 3), V);
  }
}

describe.skipIf(noGpu)('CUDA topK against the CPU reference', () => {
  useContext();
  let cpu: CpuOps;
  beforeAll(async () => {
    cpu = await cpuOracle();
  });
  afterAll(() => cpu.close());

  for (const c of CASES) {
    it(`V=${c.V} K=${c.K} B=${c.B} rows ${c.rowStart}..${c.rowStart + c.B - 1} of ${c.users}`, async () => {
      const { V, K, B, rowStart, users } = c;
      const scores = new Float32Array(B * (V + 1));
      for (let b = 0; b < B; b++) scores.set(rowScores(MODES[b % MODES.length]!, V), b * (V + 1));
      const rows = Array.from({ length: users }, (_, u) => historyRow(u, V));
      const offsets = new Int32Array(users + 1);
      for (let u = 0; u < users; u++) offsets[u + 1] = offsets[u]! + rows[u]!.length;
      const items = Int32Array.from(rows.flat());

      const specs = [
        { name: 'outItems', shape: [users, K], dtype: 'i32' },
        { name: 'scores', shape: [B, V + 1], dtype: 'f32' },
        { name: 'historyOffsets', shape: [users + 1], dtype: 'i32' },
        { name: 'historyItems', shape: [Math.max(items.length, 1)], dtype: 'i32' },
      ] as const;
      const g = deviceGroup('topk', specs);
      // Raw upload: put() goes through JavaScript numbers, which need not keep NaN payloads.
      upload(g.get('scores'), scores);
      put(g.get('historyOffsets'), offsets);
      put(g.get('historyItems'), items);

      const stream = Stream.create();
      topK(stream, g.get('outItems'), g.get('scores'), g.get('historyOffsets'), g.get('historyItems'), rowStart, B, V, K);
      stream.synchronize();
      const got = get(g.get('outItems'));
      // Again: deterministic, bit-identical (candidates reach shared memory in a varying order).
      topK(stream, g.get('outItems'), g.get('scores'), g.get('historyOffsets'), g.get('historyItems'), rowStart, B, V, K);
      stream.synchronize();
      const again = get(g.get('outItems'));
      stream.destroy();
      g.free();

      const ref = cpu.allocGroup('topk', specs);
      cpu.write(ref.get('scores'), scores);
      cpu.write(ref.get('historyOffsets'), offsets);
      cpu.write(ref.get('historyItems'), items);
      cpu.topK(ref.get('outItems'), ref.get('scores'), ref.get('historyOffsets'), ref.get('historyItems'), rowStart, B, V, K);
      const want = await cpu.readI32(ref.get('outItems'));
      cpu.freeGroup(ref);

      // Exact: ids, not values; the order is total (score, then id), so any difference is a bug.
      for (let b = 0; b < B; b++) {
        // main's CPU topK still writes rows 0..B-1 (the old contract); the CUDA one rows rowStart + b.
        const wantRow = Array.from(want.subarray((rowStart + b) * K, (rowStart + b + 1) * K));
        const gotRow = Array.from(got.subarray((rowStart + b) * K, (rowStart + b + 1) * K));
        expect(gotRow, `row ${rowStart + b} (${MODES[b % MODES.length]}, history ${rows[rowStart + b]!.length})`).toEqual(wantRow);
        const seen = new Set(rows[rowStart + b]);
        expect(gotRow.some((id) => id !== 0 && seen.has(id)), `row ${rowStart + b} holds no history item`).toBe(false);
      }
      const untouched = [...got.subarray(0, rowStart * K), ...got.subarray((rowStart + B) * K)];
      expect(untouched.every((v) => v === -1), 'rows outside rowStart..rowStart+B-1 keep their poison').toBe(true);
      expect(Array.from(again), 'second run').toEqual(Array.from(got));
    });
  }

  // rowStart in a device tensor (a replayed evaluation batch): the same rows as the number gives, and a
  // batch that runs past the last user (rows 9..9+8 of 12) writes only the users' rows.
  it('reads rowStart from the device and skips rows past the users', () => {
    const V = 3001, K = 10, B = 8, users = 12;
    const scores = new Float32Array(B * (V + 1));
    for (let b = 0; b < B; b++) scores.set(rowScores(MODES[b % MODES.length]!, V), b * (V + 1));
    const rows = Array.from({ length: users }, (_, u) => historyRow(u, V));
    const offsets = new Int32Array(users + 1);
    for (let u = 0; u < users; u++) offsets[u + 1] = offsets[u]! + rows[u]!.length;
    const g = deviceGroup('topk-at', [
      { name: 'out', shape: [users, K], dtype: 'i32' }, { name: 'outAt', shape: [users, K], dtype: 'i32' },
      { name: 'scores', shape: [B, V + 1], dtype: 'f32' }, { name: 'offsets', shape: [users + 1], dtype: 'i32' },
      { name: 'items', shape: [Math.max(1, offsets[users]!)], dtype: 'i32' }, { name: 'start', shape: [1], dtype: 'i32' },
    ]);
    upload(g.get('scores'), scores);
    put(g.get('offsets'), offsets);
    put(g.get('items'), Int32Array.from(rows.flat()));
    const t = (name: string) => g.get(name);
    const stream = Stream.create();
    for (const start of [2, 9]) {
      put(t('start'), Int32Array.of(start));
      put(t('out'), new Int32Array(users * K).fill(-1));
      put(t('outAt'), new Int32Array(users * K).fill(-1));
      const inRange = Math.min(B, users - start);
      topK(stream, t('out'), t('scores'), t('offsets'), t('items'), start, inRange, V, K);
      topK(stream, t('outAt'), t('scores'), t('offsets'), t('items'), t('start'), B, V, K);
      stream.synchronize();
      expect(Array.from(get(t('outAt'))), `rowStart ${start}`).toEqual(Array.from(get(t('out'))));
    }
    stream.destroy();
    g.free();
  });
});
