/**
 * Trains one trial in this process on the CPU backend and prints every epoch, the test result and the
 * popularity baseline on the same split: the evidence that training works, without the orchestrator.
 *
 *   npx tsx scripts/train-cpu.ts [--config '{"train":{"loss":"cce"}}'] [--threads 2]
 *
 * The JSON config is merged over a default trial on ml-latest-small (section by section).
 */
import { CpuOps } from '../src/backend/cpu/cpu-ops.js';
import { loadDataset } from '../src/data/load.js';
import { evaluatePopularity } from '../src/metrics/popularity-baseline.js';
import { resolveTrialConfig } from '../src/trainer/config.js';
import { ThrottledSink } from '../src/trainer/events.js';
import type { TrainerEvent } from '../src/trainer/protocol.js';
import { prepareTrial } from '../src/trainer/train-loop.js';
import { checkAgainstData } from '../src/trainer/trial-checks.js';

type Obj = Record<string, Record<string, unknown>>;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

class ConsoleSink extends ThrottledSink {
  constructor() {
    super(Number.POSITIVE_INFINITY);
  }

  protected write(line: string): void {
    const e = JSON.parse(line) as TrainerEvent;
    const f = (m: Record<string, number>): string => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ');
    if (e.type === 'epoch') {
      console.log(`epoch ${e.epoch}: loss ${e.train_loss.toFixed(4)}  ${f(e.metrics)}  ${e.epoch_seconds.toFixed(1)} s  ${(e.tokens_per_second / 1000).toFixed(1)} k tok/s  peak ${(e.peak_bytes / 2 ** 20).toFixed(1)} MiB`);
    } else if (e.type === 'result') {
      console.log(`best epoch ${e.best_epoch}; test: ${f(e.test)}; total ${e.total_seconds.toFixed(1)} s`);
    }
  }
}

const defaults: Obj = { dataset: { name: 'ml-latest-small' }, model: {}, train: { loss: 'ce' }, eval: {} };
const user = JSON.parse(arg('config') ?? '{}') as Obj;
const raw: Obj = {};
for (const k of Object.keys(defaults)) raw[k] = { ...defaults[k], ...user[k] };
const cfg = resolveTrialConfig(raw);
const data = await loadDataset(cfg.dataset);
checkAgainstData(cfg, data);
const threads = arg('threads');
const ops = await CpuOps.create(threads !== undefined ? { threads: Number(threads) } : {});
console.log(`${data.name}: ${data.train.offsets.length - 1} users, ${data.numItems} items; ${ops.deviceName}`);
console.log(JSON.stringify(cfg));
const pop = (set: 'validation' | 'test'): string =>
  Object.entries(evaluatePopularity(data[set], data.itemCounts, cfg.eval.k)).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ');
console.log(`popularity baseline: validation ${pop('validation')}`);
console.log(`popularity baseline: test ${pop('test')}`);
const trial = prepareTrial(ops, cfg, data);
console.log(trial.planReport);
const sink = new ConsoleSink();
sink.send(await trial.run(sink));
ops.close();
