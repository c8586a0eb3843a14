/** The GPUs a command may use: the machine's, narrowed by `--gpus`. */
import { selectGpus, type GpuLister, type SlotGpu } from '../scheduler/devices.js';
import { UsageError } from './common.js';

/** Lists the machine's GPUs and keeps those `ids` names (all when undefined); an unknown id is a usage error. */
export async function machineGpus(list: GpuLister, ids: readonly string[] | undefined): Promise<readonly SlotGpu[]> {
  const gpus = await list();
  if (ids === undefined) return gpus;
  const { selected, unknown } = selectGpus(gpus, ids);
  if (unknown.length > 0) {
    const known = gpus.map((g) => `${g.index} (${g.uuid})`).join(', ') || 'none';
    throw new UsageError(`--gpus: no GPU ${unknown.join(', ')} on this machine; its GPUs: ${known}`);
  }
  return selected;
}
