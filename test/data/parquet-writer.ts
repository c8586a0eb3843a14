/**
 * A minimal Parquet writer for test fixtures (no Python or pyarrow here): required columns, PLAIN
 * encoding, pages uncompressed or compressed with gzip or brotli (node's zlib) or zstd (frames of raw
 * blocks: Node 20 has no zstd compressor, and a raw-block frame is a valid zstd stream that every
 * decoder must read), one data page per column chunk, any number of row groups. Enough to
 * exercise the reader on INT32, INT64 (optionally TIMESTAMP_MILLIS) and UTF-8 BYTE_ARRAY columns.
 * Metadata is Thrift compact protocol, as the Parquet format specifies.
 */

/** A fixture column: its name, physical type and one value per row. */
export type FixtureColumn =
  | { readonly name: string; readonly type: 'int32'; readonly values: readonly number[] }
  | { readonly name: string; readonly type: 'int64' | 'timestamp-millis'; readonly values: readonly bigint[] }
  | { readonly name: string; readonly type: 'utf8'; readonly values: readonly string[] };

import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const PHYSICAL = { int32: 1, int64: 2, 'timestamp-millis': 2, utf8: 6 } as const;

/** Page codecs of the fixtures, by their Parquet CompressionCodec number. */
const CODEC = { uncompressed: 0, gzip: 2, brotli: 4, zstd: 6 } as const;
/** A page codec of `writeParquet`. */
export type FixtureCodec = keyof typeof CODEC;

/** Largest block of a zstd frame (RFC 8878: 128 KiB). */
const ZSTD_BLOCK = 128 * 1024;

/** A zstd frame (RFC 8878) holding `data` in raw blocks, with its content size. */
export function zstdRawFrame(data: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(0xfd2fb528, 0); // magic
  head[4] = (2 << 6) | (1 << 5); // 4-byte content size, single segment (no window descriptor)
  head.writeUInt32LE(data.length, 5);
  const parts: Buffer[] = [head];
  let at = 0;
  do {
    const size = Math.min(ZSTD_BLOCK, data.length - at);
    const last = at + size >= data.length ? 1 : 0;
    const header = (size << 3) | (0 << 1) | last; // block type 0: raw
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), data.subarray(at, at + size));
    at += size;
  } while (at < data.length);
  return Buffer.concat(parts);
}

function compress(codec: FixtureCodec, data: Buffer): Buffer {
  switch (codec) {
    case 'uncompressed':
      return data;
    case 'gzip':
      return gzipSync(data);
    case 'brotli':
      // Quality 4, not the default 11: the fixtures are for decoding, and 11 takes seconds.
      return brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
    case 'zstd':
      return zstdRawFrame(data);
  }
}
const CONVERTED = { utf8: 0, 'timestamp-millis': 9 } as const;

/** Thrift compact protocol output. */
class Compact {
  readonly bytes: number[] = [];
  #last: number[] = [0];

  varint(v: bigint): void {
    let x = v;
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (x > 0n);
  }

  #zigzag(v: bigint): void {
    this.varint(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }

  #field(id: number, type: number): void {
    const delta = id - this.#last[this.#last.length - 1]!;
    this.bytes.push((delta << 4) | type);
    this.#last[this.#last.length - 1] = id;
  }

  i32(id: number, v: number): void {
    this.#field(id, 5);
    this.#zigzag(BigInt(v));
  }

  i64(id: number, v: number | bigint): void {
    this.#field(id, 6);
    this.#zigzag(BigInt(v));
  }

  string(id: number, s: string): void {
    this.#field(id, 8);
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }

  struct(id: number, body: () => void): void {
    this.#field(id, 12);
    this.structBody(body);
  }

  structBody(body: () => void): void {
    this.#last.push(0);
    body();
    this.bytes.push(0);
    this.#last.pop();
  }

  list(id: number, elemType: number, n: number, each: (k: number) => void): void {
    this.#field(id, 9);
    if (n < 15) this.bytes.push((n << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(n));
    }
    for (let k = 0; k < n; k++) each(k);
  }

  /** A bare zigzag i32 (a list element). */
  elemI32(v: number): void {
    this.#zigzag(BigInt(v));
  }

  /** A bare string (a list element). */
  elemString(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
}

function plain(col: FixtureColumn, from: number, to: number): Buffer {
  const parts: Buffer[] = [];
  for (let r = from; r < to; r++) {
    if (col.type === 'int32') {
      const b = Buffer.alloc(4);
      b.writeInt32LE(col.values[r]!);
      parts.push(b);
    } else if (col.type === 'utf8') {
      const s = Buffer.from(col.values[r]!, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(s.length);
      parts.push(len, s);
    } else {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(col.values[r]!);
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

/**
 * A Parquet file of the given columns, cut into row groups of `groupRows` rows, pages compressed with
 * `codec` (by `compressPage` where given: a real zstd compressor when making a committed fixture).
 */
export function writeParquet(
  columns: readonly FixtureColumn[],
  groupRows: number,
  codec: FixtureCodec = 'uncompressed',
  compressPage: (raw: Buffer) => Buffer = (raw) => compress(codec, raw),
): Buffer {
  const rows = columns[0]!.values.length;
  const out: Buffer[] = [Buffer.from('PAR1')];
  let pos = 4;
  const groups: { rows: number; chunks: { offset: number; size: number; rawSize: number; col: FixtureColumn }[] }[] = [];
  for (let start = 0; start < rows; start += groupRows) {
    const end = Math.min(rows, start + groupRows);
    const chunks = columns.map((col) => {
      const raw = plain(col, start, end);
      const data = compressPage(raw);
      const header = new Compact();
      header.structBody(() => {
        header.i32(1, 0); // DATA_PAGE
        header.i32(2, raw.length);
        header.i32(3, data.length);
        header.struct(5, () => {
          header.i32(1, end - start);
          header.i32(2, 0); // PLAIN
          header.i32(3, 3); // RLE
          header.i32(4, 3);
        });
      });
      const page = Buffer.concat([Buffer.from(header.bytes), data]);
      const chunk = { offset: pos, size: page.length, rawSize: header.bytes.length + raw.length, col };
      out.push(page);
      pos += page.length;
      return chunk;
    });
    groups.push({ rows: end - start, chunks });
  }
  const meta = new Compact();
  meta.structBody(() => {
    meta.i32(1, 1);
    meta.list(2, 12, columns.length + 1, (k) =>
      meta.structBody(() => {
        if (k === 0) {
          meta.string(4, 'schema');
          meta.i32(5, columns.length);
          return;
        }
        const col = columns[k - 1]!;
        meta.i32(1, PHYSICAL[col.type]);
        meta.i32(3, 0); // REQUIRED
        meta.string(4, col.name);
        if (col.type === 'utf8' || col.type === 'timestamp-millis') meta.i32(6, CONVERTED[col.type]);
      }),
    );
    meta.i64(3, rows);
    meta.list(4, 12, groups.length, (g) =>
      meta.structBody(() => {
        const group = groups[g]!;
        meta.list(1, 12, group.chunks.length, (c) =>
          meta.structBody(() => {
            const chunk = group.chunks[c]!;
            meta.i64(2, chunk.offset);
            meta.struct(3, () => {
              meta.i32(1, PHYSICAL[chunk.col.type]);
              meta.list(2, 5, 1, () => meta.elemI32(0));
              meta.list(3, 8, 1, () => meta.elemString(chunk.col.name));
              meta.i32(4, CODEC[codec]);
              meta.i64(5, group.rows);
              meta.i64(6, chunk.rawSize);
              meta.i64(7, chunk.size);
              meta.i64(9, chunk.offset);
            });
          }),
        );
        meta.i64(2, group.chunks.reduce((s, c) => s + c.size, 0));
        meta.i64(3, group.rows);
      }),
    );
  });
  const metaBytes = Buffer.from(meta.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(metaBytes.length);
  out.push(metaBytes, len, Buffer.from('PAR1'));
  return Buffer.concat(out);
}
