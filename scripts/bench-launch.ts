/**
 * Host cost of a kernel launch through koffi, and of synchronizing, on GPU 0:
 *
 *   npx tsx scripts/bench-launch.ts [--json FILE]
 *
 * Measured with a one-element fill_f32 (kernels/basic.cu) on one stream, so the GPU is never the
 * bottleneck: launches go in bursts of 64, timed on the host clock around the launch calls only,
 * then the stream is drained. Each figure is the median of 50 bursts (or calls) after 5 of warm-up.
 *
 * - ffi-call: a trivial driver call (cuCtxGetDevice) through koffi: the FFI floor;
 * - pack: checking and packing the launch arguments in JS, without launching;
 * - launch-raw: cuLaunchKernel through koffi with a prebuilt parameter buffer;
 * - launch-raw-u64: the same, with handles declared uint64_t instead of void *;
 * - launch: KernelFunction.launch, the path the backend uses (pack + launch-raw);
 * - sync-idle / ctx-sync-idle: cuStreamSynchronize / cuCtxSynchronize with nothing queued;
 * - launch+sync: one launch, then wait for it (latency of a tiny kernel);
 * - graph-launch: cuGraphLaunch of a captured graph of 64 launches, host cost per kernel;
 * - gpu-per-kernel stream / graph: device time per kernel (events) over 64 × 64 launches.
 * Where nvcc is on PATH, scripts/bench-launch-native.cpp makes the same launch and sync
 * measurements from C++ (the floor without koffi and JS).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaContext } from '../src/cuda/context.js';
import { check, driver, driverVersion, formatDriverVersion } from '../src/cuda/driver.js';
import { CudaGraph } from '../src/cuda/graph.js';
import { argumentPacker, layoutOf } from '../src/cuda/kernel-signature.js';
import { kernelsDirectory } from '../src/cuda/kernel-modules.js';
import { CUDA_LIBRARY } from '../src/cuda/driver-api.js';
import { koffi, openLibrary } from '../src/cuda/native-library.js';
import { probeCuda } from '../src/cuda/probe.js';
import { CudaEvent, Stream, synchronizeDevice } from '../src/cuda/stream.js';

const ROUNDS = 50;
const WARMUP = 5;
const BURST = 64;
const FILL_SIGNATURE = ['out:ptr', 'value:f32', 'n:u64'] as const;

const now = (): number => Number(process.hrtime.bigint()) / 1000; // µs

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Median over rounds of the per-operation time of `ops` calls of `body`; `drain` runs untimed after each round. */
function measure(ops: number, body: () => void, drain: () => void = () => {}): number {
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS + WARMUP; round++) {
    const t0 = now();
    for (let i = 0; i < ops; i++) body();
    const t1 = now();
    drain();
    if (round >= WARMUP) samples.push((t1 - t0) / ops);
  }
  return median(samples);
}

function nativeBaseline(ptxPath: string): Record<string, number> | string {
  const source = fileURLToPath(new URL('./bench-launch-native.cpp', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'gridrec-bench-'));
  try {
    const binary = join(dir, 'bench-launch-native');
    const build = spawnSync('nvcc', ['-O2', '-o', binary, source, '-ldl'], { encoding: 'utf8' });
    if (build.error !== undefined || build.status !== 0) return `native baseline not built: ${build.error?.message ?? build.stderr}`;
    const run = spawnSync(binary, [ptxPath], { encoding: 'utf8' });
    if (run.status !== 0) return `native baseline failed: ${run.stderr.trim()}`;
    return Object.fromEntries(
      run.stdout.trim().split('\n').map((line) => {
        const [name, value] = line.split(' ');
        return [name as string, Number(value)];
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const probe = probeCuda();
  if (!probe.available) {
    process.stderr.write(`bench-launch: CUDA is not usable here: ${probe.reason}\n`);
    process.exit(1);
  }
  const jsonAt = process.argv.indexOf('--json');
  const jsonPath = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;

  const context = CudaContext.open(0);
  const api = driver();
  const stream = Stream.create();
  const out = context.allocator.alloc(4, 'out');
  const fill = context.modules.load('basic').getFunction('fill_f32', FILL_SIGNATURE);
  const config = { grid: 1, block: 32, stream } as const;
  const drain = (): void => stream.synchronize();

  // A prebuilt launch: the function handle and an `extra` array over a fixed parameter buffer.
  const fnOut = new BigUint64Array(1);
  const moduleOut = new BigUint64Array(1);
  const ptxPath = join(kernelsDirectory(), 'basic.sm80.ptx');
  const image = Buffer.from(`${readFileSync(ptxPath, 'utf8')}\0`);
  check('cuModuleLoadDataEx', api.cuModuleLoadDataEx(moduleOut, image, 0, new Int32Array(0), new BigUint64Array(0)));
  const rawModule = moduleOut[0] ?? 0n;
  check('cuModuleGetFunction', api.cuModuleGetFunction(fnOut, rawModule, 'fill_f32'));
  const layout = layoutOf(FILL_SIGNATURE);
  const k = koffi();
  const native = k.alloc('uint8_t', 48 + layout.bytes) as bigint;
  const header = new DataView(k.view(native, 48 + layout.bytes));
  header.setBigUint64(0, 1n, true);
  header.setBigUint64(8, native + 48n, true);
  header.setBigUint64(16, 2n, true);
  header.setBigUint64(24, native + 40n, true);
  header.setBigUint64(32, 0n, true);
  header.setBigUint64(40, BigInt(layout.bytes), true);
  const pack = argumentPacker('fill_f32', layout);
  const params = new DataView(k.view(native + 48n, layout.bytes));
  pack(params, [out.ptr, 1, 1]);
  const streamHandle = stream.handle;
  const fnHandle = fnOut[0] ?? 0n;

  const device = new Int32Array(1);
  const results: Record<string, number> = {};
  results['ffi-call'] = measure(BURST, () => api.cuCtxGetDevice(device));
  const packView = new DataView(new ArrayBuffer(layout.bytes));
  results['pack'] = measure(BURST, () => pack(packView, [out, 1.5, 1]));
  results['launch-raw'] = measure(BURST, () => api.cuLaunchKernel(fnHandle, 1, 1, 1, 32, 1, 1, 0, streamHandle, null, native), drain);
  // The same call with every handle declared uint64_t: koffi converts integers, not pointers.
  const lib = openLibrary(CUDA_LIBRARY);
  if (lib.ok) {
    const launchU64 = lib.library.func(
      'int cuLaunchKernel(uint64_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint64_t, uint64_t, uint64_t)',
    );
    results['launch-raw-u64'] = measure(BURST, () => launchU64(fnHandle, 1, 1, 1, 32, 1, 1, 0, streamHandle, 0n, native), drain);
  }
  results['launch'] = measure(BURST, () => fill.launch(config, out, 1.5, 1), drain);
  results['sync-idle'] = measure(1, drain);
  results['ctx-sync-idle'] = measure(1, () => synchronizeDevice());
  results['launch+sync'] = measure(1, () => {
    fill.launch(config, out, 1.5, 1);
    stream.synchronize();
  });

  const graph = CudaGraph.capture(stream, () => {
    for (let i = 0; i < BURST; i++) fill.launch(config, out, 2.5, 1);
  });
  results['graph-launch (per kernel)'] = measure(1, () => graph.launch(stream), drain) / BURST;

  const start = CudaEvent.create();
  const end = CudaEvent.create();
  const deviceTime = (queue: () => void): number => {
    queue(); // warm-up
    start.record(stream);
    queue();
    end.record(stream);
    end.synchronize();
    return (end.elapsedMsSince(start) * 1000) / (BURST * BURST);
  };
  results['gpu-per-kernel stream'] = deviceTime(() => {
    for (let i = 0; i < BURST * BURST; i++) fill.launch(config, out, 1.5, 1);
  });
  results['gpu-per-kernel graph'] = deviceTime(() => {
    for (let i = 0; i < BURST; i++) graph.launch(stream);
  });

  stream.synchronize();
  check('cuModuleUnload', api.cuModuleUnload(rawModule));
  k.free(native);
  graph.destroy();
  start.destroy();
  end.destroy();
  stream.destroy();
  const name = context.device.name;
  const version = formatDriverVersion(driverVersion());
  context.close();

  const baseline = nativeBaseline(ptxPath);
  const rows = Object.entries(results).map(([key, us]) => {
    const native = typeof baseline === 'object' ? baseline[key] : undefined;
    return `${key.padEnd(26)} ${us.toFixed(3).padStart(9)} µs${native !== undefined ? `   (C++: ${native.toFixed(3)} µs)` : ''}`;
  });
  const summary = [
    `bench-launch on ${name}, driver CUDA ${version}, node ${process.version}`,
    `median of ${ROUNDS} rounds after ${WARMUP} of warm-up; bursts of ${BURST} launches`,
    ...rows,
    ...(typeof baseline === 'string' ? [baseline] : []),
  ].join('\n');
  process.stdout.write(`${summary}\n`);
  if (jsonPath !== undefined) {
    writeFileSync(jsonPath, `${JSON.stringify({ device: name, driver: version, node: process.version, results, native: baseline }, null, 2)}\n`);
  }
}

main();
