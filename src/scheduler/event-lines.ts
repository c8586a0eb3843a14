/**
 * Splitting a trainer's event stream (fd 3) into lines, with a cap on a line's length: a trainer that
 * writes a huge line (or never ends one) must not make the orchestrator buffer it without bound, nor
 * build a string longer than V8 allows. Over the cap is a protocol violation of that trial only.
 */

/** The longest event line accepted, in bytes (newline excluded). Real events are well under 64 KiB. */
export const MAX_EVENT_LINE_BYTES = 1 << 20;

/** Feeds chunks, calls back with each complete line (UTF-8 decoded), once with an overflow. */
export class EventLineSplitter {
  readonly #maxBytes: number;
  readonly #onLine: (line: string) => void;
  readonly #onOverflow: (bytes: number) => void;
  #parts: Buffer[] = [];
  #size = 0;
  /** Set once a line ran over the cap: everything after is dropped (the trial is being stopped). */
  #overflowed = false;

  constructor(onLine: (line: string) => void, onOverflow: (bytes: number) => void, maxBytes = MAX_EVENT_LINE_BYTES) {
    this.#onLine = onLine;
    this.#onOverflow = onOverflow;
    this.#maxBytes = maxBytes;
  }

  /** Takes the next chunk of the stream. */
  push(chunk: Buffer): void {
    let start = 0;
    while (!this.#overflowed) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.#append(chunk.subarray(start));
        return;
      }
      this.#append(chunk.subarray(start, nl));
      if (this.#overflowed) return;
      const line = Buffer.concat(this.#parts, this.#size).toString('utf8');
      this.#parts = [];
      this.#size = 0;
      this.#onLine(line);
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    if (this.#overflowed || this.#size === 0) return;
    const line = Buffer.concat(this.#parts, this.#size).toString('utf8');
    this.#parts = [];
    this.#size = 0;
    this.#onLine(line);
  }

  #append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#size + bytes.length > this.#maxBytes) {
      this.#overflowed = true;
      this.#parts = [];
      this.#onOverflow(this.#size + bytes.length);
      return;
    }
    this.#parts.push(bytes);
    this.#size += bytes.length;
  }
}
