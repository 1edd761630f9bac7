// x-forwarded-client-cert (Envoy XFCC): `By=…;Hash=…;Subject="…";URI=spiffe://…;DNS=…`, one
// element per hop, comma-separated; the last element is the hop nearest to us.
//
// A client can send any XFCC it likes, and common proxy defaults pass it on: Istio sidecars use
// forward_client_cert APPEND_FORWARD (the client's header is kept and appended to) and accept
// plaintext under PERMISSIVE mTLS; nginx passes every client header to its auth subrequest. So
// XFCC is believed only when the *immediate peer* is a proxy the operator trusts to sanitise it
// (identity.xfccTrustedPeers), exactly like trusted proxies for X-Forwarded-For:
//  - the peer's mTLS principal (verified by Envoy) is in `principals`: the XFCC principal replaces
//    the proxy's own, since the proxy is acting for its client;
//  - or the peer has no principal and its address is in `ipBlocks`.
import type { CheckInput } from '../decision/types.js';
import { cidrMatcher, type Matcher } from '../policy/match.js';
import type { XfccTrustedPeers } from '../config/types.js';

interface Element {
  uri?: string;
  by?: string;
}

/**
 * The caller's principal from XFCC, or undefined when XFCC is not to be believed for this
 * request: trust off, the immediate peer is not a trusted proxy, or no usable element.
 */
export function trustedXfccPrincipal(input: CheckInput, trust: XfccTrustedPeers | undefined): string | undefined {
  if (!trust) return undefined;
  const header = input.headers['x-forwarded-client-cert'];
  if (!header) return undefined;
  const peer = input.source;
  const t = compiled(trust);
  if (peer.principal) {
    // The configured form is a SPIFFE ID with its scheme implied (as Istio's `principals`), so a
    // peer must report exactly spiffe://…: a certificate whose URI SAN or Subject is the bare
    // "td/ns/N/sa/S" does not pass for the trusted proxy.
    if (!t.principals.has(peer.principal)) return undefined;
  } else if (!peer.address || !t.addresses(peer.address)) {
    return undefined;
  }
  const elements = xfccElements(header);
  let last = elements[elements.length - 1];
  // Our own Envoy may append an element for the hop it terminated (Istio: APPEND_FORWARD with
  // set_current_client_cert_details; By = its own SAN, URI = the trusted proxy itself). That
  // hop is already known from mTLS: the proxy's client is the element before it.
  const self = input.destination.principal;
  if (last && peer.principal && last.uri === peer.principal && (!last.by || !self || last.by === self)) {
    elements.pop();
    last = elements[elements.length - 1];
  }
  return last?.uri;
}

function withScheme(p: string): string {
  return p.startsWith('spiffe://') ? p : `spiffe://${p}`;
}

/** Compiled once per config object (configs are immutable per snapshot). */
const cache = new WeakMap<XfccTrustedPeers, { principals: ReadonlySet<string>; addresses: Matcher }>();
function compiled(trust: XfccTrustedPeers): { principals: ReadonlySet<string>; addresses: Matcher } {
  let c = cache.get(trust);
  if (!c) {
    const blocks = trust.ipBlocks.map((b) => cidrMatcher(b)); // validated at config load
    c = { principals: new Set(trust.principals.map(withScheme)), addresses: (v) => blocks.some((m) => m(v)) };
    cache.set(trust, c);
  }
  return c;
}

function xfccElements(header: string | undefined): Element[] {
  if (!header) return [];
  return splitOutsideQuotes(header, ',').map((el) => {
    const out: Element = {};
    for (const pair of splitOutsideQuotes(el, ';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      if (key !== 'uri' && key !== 'by') continue;
      let value = pair.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\"/g, '"');
      // The first URI/By of an element counts (Envoy emits each at most once).
      if (value && out[key] === undefined) out[key] = value;
    }
    return out;
  });
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && quoted && i + 1 < s.length) {
      cur += ch + s[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}
