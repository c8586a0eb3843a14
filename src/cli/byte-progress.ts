/**
 * A download's messages and byte progress on stderr. On a terminal the progress is one line rewritten
 * in place (`\r`), closed before any other message; elsewhere (a pipe, a log file) only the messages.
 */
import type { DownloadProgress } from '../data/fetch.js';

/** The `report` and `progress` callbacks of a fetch, both writing to one stream. */
export interface FetchDisplay {
  readonly report: (line: string) => void;
  readonly progress: (bytes: DownloadProgress) => void;
}

/** Callbacks for `fetchDataset` that print to `stream`, with a live byte count where it is a terminal. */
export function fetchDisplay(stream: NodeJS.WritableStream & { readonly isTTY?: boolean }): FetchDisplay {
  const live = stream.isTTY === true;
  // Whether the progress line is drawn and not yet ended by a newline.
  let open = false;
  return {
    report: (line) => {
      stream.write(`${open ? '\n' : ''}${line}\n`);
      open = false;
    },
    progress: ({ received, total }) => {
      if (!live) return;
      const of = total !== undefined ? ` of ${mib(total)}` : '';
      const percent = total !== undefined && total > 0 ? ` (${Math.floor((100 * received) / total)}%)` : '';
      const done = total !== undefined && received >= total;
      stream.write(`\r\x1b[K  ${mib(received)}${of}${percent}${done ? '\n' : ''}`);
      open = !done;
    },
  };
}

/** Bytes in MiB with one decimal (0 included, unlike a table's `formatBytes`). */
function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
