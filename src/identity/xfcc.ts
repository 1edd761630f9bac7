// x-forwarded-client-cert (Envoy XFCC): `By=…;Hash=…;Subject="…";URI=spiffe://…;DNS=…`, one
// element per hop, comma-separated; the last element is the hop nearest to us. Only read when
// the operator says the header is set by a trusted proxy (identity.trustXfcc), since a client
// can send anything.

/** URI SAN of the nearest client certificate in an XFCC header, if any. */
export function xfccPrincipal(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const elements = splitOutsideQuotes(header, ',');
  const last = elements[elements.length - 1];
  if (!last) return undefined;
  for (const pair of splitOutsideQuotes(last, ';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'uri') continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\"/g, '"');
    return value || undefined;
  }
  return undefined;
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
