// The original client IP (`remoteIpBlocks`, `notRemoteIpBlocks`, `when remote.ip`), as Envoy
// determines it for Istio from X-Forwarded-For and xff_num_trusted_hops (Istio's
// `numTrustedProxies`), while `ipBlocks` / `source.ip` stay the direct peer.
//
// identity.numTrustedProxies = N. The hop chain is the X-Forwarded-For entries followed by the
// peer address (source.address). With N = 0 the remote IP is the peer itself and the header is
// never read; with N > 0 it is the entry N places left of the peer: each trusted proxy appends
// the address it received the request from, so everything further left is client-written and
// never used. Envoy with use_remote_address (Istio gateways) appends the peer address to
// X-Forwarded-For before it calls ext_authz; a last entry equal to the peer is that copy and is
// not counted twice (a trusted proxy appends its own client, never itself).
//
// Fail closed, unlike Envoy (which falls back to the peer address): when the chain is shorter
// than N + 1 (the request did not pass the trusted proxies), or any entry from the chosen one
// rightwards is not a plain IP address, or there is no peer address, there is NO remote IP, and
// every remote-IP condition takes its fail-closed result (policy/compile.ts): it fails in an
// ALLOW policy and matches in a DENY or AUDIT one, for remoteIpBlocks and notRemoteIpBlocks alike.
import { isIP } from 'node:net';
import type { CheckInput } from '../decision/types.js';

/** A plain IPv4/IPv6 address as one X-Forwarded-For entry (no port, brackets or zone). */
function plainIp(s: string): string | undefined {
  return isIP(s) !== 0 && !s.includes('%') ? s : undefined;
}

/** The remote IP for this request, or undefined when it cannot be determined. */
export function remoteIp(input: Pick<CheckInput, 'headers' | 'source'>, numTrustedProxies: number): string | undefined {
  const peer = input.source.address === undefined ? undefined : plainIp(input.source.address);
  if (peer === undefined) return undefined;
  if (numTrustedProxies <= 0) return peer;
  const xff = input.headers['x-forwarded-for'];
  if (xff === undefined) return undefined;
  const hops = xff.split(',').map((s) => s.trim());
  if (hops.length && hops[hops.length - 1] === peer) hops.pop();
  const at = hops.length - numTrustedProxies;
  if (at < 0) return undefined;
  for (let i = at; i < hops.length; i++) if (plainIp(hops[i]!) === undefined) return undefined;
  return hops[at];
}
