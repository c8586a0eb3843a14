/**
 * The float32 gemm micro-kernel in WebAssembly SIMD (128-bit f32x4), assembled here byte by byte so
 * the CPU backend needs no toolchain and no dependency. One exported function multiplies packed
 * panels in the module's own memory:
 *
 *   block(aBase, bBase, cBase, mb4, nb8, kb, ldcBytes):
 *     for each 4-row group ig < mb4 and 8-column group jg < nb8:
 *       C[4·ig + r][8·jg + c] = Σ_p A[ig][p][r] · B[jg][p][c]      (overwrite, float32 accumulation)
 *
 * A is packed [mb4][kb][4] (4 rows interleaved per depth step), B [nb8][kb][8]; C is row-major with a
 * row stride of ldcBytes. Per depth step the tile costs 2 vector loads of B, 4 splat loads of A and
 * 8 multiply-adds into 8 accumulators (a 4 × 8 tile held in registers).
 */

const PAGE_BYTES = 65536;

// Opcodes (WebAssembly core 2.0 and the fixed-width SIMD proposal, both in Node 20).
const I32 = 0x7f;
const V128 = 0x7b;
const BLOCK = 0x02;
const LOOP = 0x03;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_GE_U = 0x4f;
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const SIMD = 0xfd;
const V128_LOAD = 0x00;
const V128_LOAD32_SPLAT = 0x09;
const V128_STORE = 0x0b;
const V128_CONST = 0x0c;
const F32X4_ADD = 0xe4;
const F32X4_MUL = 0xe6;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  return vec([...s].map((c) => [c.charCodeAt(0)]));
}

// Parameters (locals 0..6) and locals of `block`.
const A_BASE = 0, B_BASE = 1, C_BASE = 2, MB4 = 3, NB8 = 4, KB = 5, LDC = 6;
const IG = 7, JG = 8, P = 9, PA = 10, PB = 11, PC = 12;
const ACC = 13; // 8 accumulators: ACC + 2r + h is row r, columns 4h..4h+3
const B0 = 21, B1 = 22, A = 23;

const get = (i: number): number[] => [LOCAL_GET, ...uleb(i)];
const set = (i: number): number[] => [LOCAL_SET, ...uleb(i)];
const i32 = (v: number): number[] => [I32_CONST, ...sleb(v)];
const simd = (op: number, ...imm: number[]): number[] => [SIMD, ...uleb(op), ...imm];
/** memarg: alignment hint 2^2 (every address is 4-byte aligned) and a constant offset. */
const mem = (offset: number): number[] => [2, ...uleb(offset)];

/** `while (counter < limit) { body; counter++ }` with counter set to 0 first. */
function countedLoop(counter: number, limit: number, body: number[]): number[] {
  return [
    ...i32(0), ...set(counter),
    BLOCK, 0x40, LOOP, 0x40,
    ...get(counter), ...get(limit), I32_GE_U, BR_IF, 1,
    ...body,
    ...get(counter), ...i32(1), I32_ADD, ...set(counter),
    BR, 0, END, END,
  ];
}

function kernelBody(): number[] {
  const depthStep: number[] = [
    ...get(PB), ...simd(V128_LOAD, ...mem(0)), ...set(B0),
    ...get(PB), ...simd(V128_LOAD, ...mem(16)), ...set(B1),
  ];
  for (let r = 0; r < 4; r++) {
    depthStep.push(...get(PA), ...simd(V128_LOAD32_SPLAT, ...mem(4 * r)), ...set(A));
    for (let h = 0; h < 2; h++) {
      depthStep.push(...get(ACC + 2 * r + h), ...get(A), ...get(h === 0 ? B0 : B1), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(ACC + 2 * r + h));
    }
  }
  depthStep.push(...get(PA), ...i32(16), I32_ADD, ...set(PA), ...get(PB), ...i32(32), I32_ADD, ...set(PB));

  const tile: number[] = [];
  for (let k = 0; k < 8; k++) tile.push(...simd(V128_CONST, ...new Array<number>(16).fill(0)), ...set(ACC + k));
  tile.push(...get(A_BASE), ...get(IG), ...get(KB), I32_MUL, ...i32(16), I32_MUL, I32_ADD, ...set(PA));
  tile.push(...get(B_BASE), ...get(JG), ...get(KB), I32_MUL, ...i32(32), I32_MUL, I32_ADD, ...set(PB));
  tile.push(...countedLoop(P, KB, depthStep));
  tile.push(...get(C_BASE), ...get(IG), ...i32(4), I32_MUL, ...get(LDC), I32_MUL, I32_ADD, ...get(JG), ...i32(32), I32_MUL, I32_ADD, ...set(PC));
  for (let r = 0; r < 4; r++) {
    tile.push(...get(PC), ...get(ACC + 2 * r), ...simd(V128_STORE, ...mem(0)));
    tile.push(...get(PC), ...get(ACC + 2 * r + 1), ...simd(V128_STORE, ...mem(16)));
    tile.push(...get(PC), ...get(LDC), I32_ADD, ...set(PC));
  }
  const code = countedLoop(IG, MB4, countedLoop(JG, NB8, tile));
  const locals = vec([[...uleb(6), I32], [...uleb(11), V128]]);
  const body = [...locals, ...code, END];
  return [...uleb(body.length), ...body];
}

/** The module's bytes, with `pages` of memory. */
function gemmModuleBytes(pages: number): Uint8Array {
  const type = [0x60, ...vec(new Array<number[]>(7).fill([I32])), ...vec([])];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    ...section(3, vec([uleb(0)])),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([[...name('mem'), 0x02, 0], [...name('block'), 0x00, 0]])),
    ...section(10, vec([kernelBody()])),
  ]);
}

/** The instantiated kernel and typed views of its packed panels. */
export interface WasmGemm {
  /** Packed A at byte 0, B after it, C after that. */
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly c: Float32Array;
  /** Runs the kernel over mb4 × nb8 tiles of depth kb; C's row stride is `ldc` floats. */
  block(mb4: number, nb8: number, kb: number, ldc: number): void;
}

/** The part of the WebAssembly JS API used here (lib ES2023 and @types/node 20 do not declare it). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

/**
 * The per-thread kernel with room for panels of A [mc × kc], B [nc × kc] and C [mc × nc] (the caller's
 * block sizes; mc a multiple of 4, nc of 8), or null where WebAssembly SIMD is unavailable.
 */
export function createWasmGemm(mc: number, kc: number, nc: number): WasmGemm | null {
  const wa = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  const [aFloats, bFloats, cFloats] = [mc * kc, nc * kc, mc * nc];
  const bytes = gemmModuleBytes(Math.ceil(((aFloats + bFloats + cFloats) * 4) / PAGE_BYTES));
  if (wa === undefined || !wa.validate(bytes)) return null;
  const instance = new wa.Instance(new wa.Module(bytes));
  const memory = instance.exports.mem as { readonly buffer: ArrayBuffer };
  const fn = instance.exports.block as (a: number, b: number, c: number, mb4: number, nb8: number, kb: number, ldc: number) => void;
  const aBytes = 0;
  const bBytes = aFloats * 4;
  const cBytes = bBytes + bFloats * 4;
  return {
    a: new Float32Array(memory.buffer, aBytes, aFloats),
    b: new Float32Array(memory.buffer, bBytes, bFloats),
    c: new Float32Array(memory.buffer, cBytes, cFloats),
    block: (mb4, nb8, kb, ldc) => fn(aBytes, bBytes, cBytes, mb4, nb8, kb, ldc * 4),
  };
}
