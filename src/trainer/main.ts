#!/usr/bin/env node
/**
 * The built-in trainer's child process (docs/protocol.md): reads its trial from
 * GRID_TRIAL, rejects an invalid config before any work, loads the data set, plans its memory, says
 * hello with the planned peak, trains, and reports the result on fd 3. Exits 0 only after `result`.
 */
import { readFileSync } from 'node:fs';
import { loadDataset } from '../data/load.js';
import { createBackend } from './backend.js';
import { resolveTrialConfig } from './config.js';
import { FdEventSink } from './events.js';
import { DEFAULT_HEARTBEAT_INTERVAL_S, EVENTS_FD, PROTOCOL_VERSION, TRIAL_ENV, type TrialFile } from './protocol.js';
import { prepareTrial } from './train-loop.js';
import { checkAgainstData, errorKind } from './trial-checks.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function main(): Promise<void> {
  const path = process.env[TRIAL_ENV];
  if (path === undefined || path === '') throw new Error(`${TRIAL_ENV} is not set: this program is started by \`grid run\``);
  const trial = JSON.parse(readFileSync(path, 'utf8')) as TrialFile;
  const sink = new FdEventSink(EVENTS_FD, trial.heartbeat_interval_s ?? DEFAULT_HEARTBEAT_INTERVAL_S);
  try {
    const cfg = resolveTrialConfig(trial.config);
    const stopKeepAlive = sink.keepAlive();
    const ops = await createBackend(trial.device);
    const data = await loadDataset(cfg.dataset, { report: (line) => console.log(line) });
    checkAgainstData(cfg, data);
    const prepared = prepareTrial(ops, cfg, data);
    console.log(`${data.name}: ${data.train.offsets.length - 1} training users, ${data.numItems} items`);
    console.log(prepared.planReport);
    sink.send({
      type: 'hello', protocol: PROTOCOL_VERSION, trainer: 'gridrec', version: pkg.version,
      backend: ops.backend, device_name: ops.deviceName, planned_peak_bytes: prepared.plannedPeakBytes,
    });
    stopKeepAlive();
    const result = await prepared.run(sink);
    sink.send(result);
    ops.close();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(e instanceof Error ? (e.stack ?? message) : message);
    sink.send({ type: 'error', kind: errorKind(e), message });
    process.exit(1);
  }
}

await main();
