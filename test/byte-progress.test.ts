import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fetchDisplay } from '../src/cli/byte-progress.js';

function stream(isTTY: boolean): { out: PassThrough & { isTTY: boolean }; text: () => string } {
  const out = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out, text: () => text };
}

describe('fetchDisplay', () => {
  it('rewrites one byte-count line on a terminal and closes it before the next message', () => {
    const { out, text } = stream(true);
    const d = fetchDisplay(out);
    d.report('downloading http://x/a.zip');
    d.progress({ received: 2 ** 20, total: 4 * 2 ** 20 });
    d.report('attempt 1 failed (stalled: nothing received for 30 s); resuming');
    d.progress({ received: 4 * 2 ** 20, total: 4 * 2 ** 20 });
    d.report('md5 verified');
    expect(text()).toBe(
      'downloading http://x/a.zip\n\r\x1b[K  1.0 MiB of 4.0 MiB (25%)\nattempt 1 failed (stalled: nothing received for 30 s); resuming\n' +
        '\r\x1b[K  4.0 MiB of 4.0 MiB (100%)\nmd5 verified\n',
    );
  });

  it('prints only the messages elsewhere', () => {
    const { out, text } = stream(false);
    const d = fetchDisplay(out);
    d.progress({ received: 10, total: undefined });
    d.report('done');
    expect(text()).toBe('done\n');
  });
});
