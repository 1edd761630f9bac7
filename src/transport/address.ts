import type { Server } from 'node:net';
import { InvalidArgumentError } from '../errors.js';

/** Parse "host:port", ":port" or "[v6]:port" (validated by the config schema) for listen(). */
export function parseAddress(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  let host = addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`invalid port in address ${addr}`);
  return { host: host || '0.0.0.0', port };
}

/** host:port in the form grpc-js and humans expect (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Listen on "host:port" and resolve with the bound port (the real one when port is 0). */
export async function listenOn(server: Server, address: string): Promise<number> {
  const { host, port } = parseAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
