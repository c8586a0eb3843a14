/** A free localhost port for the test servers that need one on their command line (PostgreSQL, Slurm). */
import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that nobody listens on now: the kernel's choice for a listener on port 0,
 * closed again before it is returned, so another process may in principle take it first.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
