// `zt-authz revoke`: prints the TokenRevocation manifest (kubectl apply -f -) or the entry for the
// revocation file, for one token (issuer + jti), every token of a subject issued before a time, or
// an API key by its SHA-256. The entry goes through the validator zt-authz loads entries with, so
// what it prints is what the service accepts. The resource name is derived from what is revoked:
// printing it twice and applying both is one resource (a later notBefore replaces the earlier).
import { hash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { parseEntry, type RevocationEntry } from '../authn/revocation/entries.js';
import { REVOCATION_CRD } from '../k8s/revocations.js';
import { InvalidArgumentError } from '../errors.js';
import { EXIT, type CliCommand } from './command.js';

export const REVOKE_USAGE = `  zt-authz revoke --issuer ISS --jti JTI [--expires-at TIME]
  zt-authz revoke --issuer ISS --subject SUB --not-before TIME|now [--expires-at TIME]
  zt-authz revoke --api-key-sha256 HEX [--expires-at TIME]
                 [--output manifest|entry] [--namespace NS] [--name NAME]
                                        print a TokenRevocation manifest (default) or the
                                        revocation-file entry; times in RFC 3339 (2026-12-08T10:00:00Z)
`;

export interface RevokeOutput {
  text: string;
  /** Advice for stderr (an entry that never expires). */
  notes: string[];
}

export function revoke(args: string[], now = Date.now()): RevokeOutput {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      issuer: { type: 'string' },
      jti: { type: 'string' },
      subject: { type: 'string' },
      'not-before': { type: 'string' },
      'expires-at': { type: 'string' },
      'api-key-sha256': { type: 'string' },
      output: { type: 'string', default: 'manifest' },
      namespace: { type: 'string', short: 'n' },
      name: { type: 'string' },
    },
  });
  if (positionals.length) throw new InvalidArgumentError(`revoke: unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.output !== 'manifest' && values.output !== 'entry') throw new InvalidArgumentError('revoke: --output is manifest or entry');
  const notBefore = values['not-before'] === 'now' ? new Date(now).toISOString() : values['not-before'];
  const raw: Record<string, string> = {};
  if (values.issuer !== undefined) raw.issuer = values.issuer;
  if (values.jti !== undefined) raw.jti = values.jti;
  if (values.subject !== undefined) raw.subject = values.subject;
  if (notBefore !== undefined) raw.notBefore = notBefore;
  if (values['api-key-sha256'] !== undefined) raw.apiKey = values['api-key-sha256'];
  if (values['expires-at'] !== undefined) raw.expiresAt = values['expires-at'];
  const r = parseEntry(raw, 'revoke');
  if ('problems' in r) {
    const flag = (path: string): string =>
      path
        .replace(/^revoke\.?/, '')
        .replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
        .replace(/^api-key$/, 'api-key-sha256') || 'arguments';
    throw new InvalidArgumentError(
      `revoke: ${r.problems.map((p) => `${flag(p.path) === 'arguments' ? '' : `--${flag(p.path)} `}${p.message}`).join('; ')}`,
    );
  }
  const entry = r.entry;
  const spec = specOf(entry);
  const notes: string[] = [];
  if (entry.expiresAt === undefined && entry.kind !== 'subject') {
    notes.push('no --expires-at: the entry is kept until removed; pass the token’s exp so it drops by itself');
  }
  if (entry.expiresAt === undefined && entry.kind === 'subject') {
    notes.push(
      'no --expires-at: the entry drops after notBefore + the issuer’s maxTokenAgeSeconds, or is kept until removed when the issuer has none',
    );
  }
  if (values.output === 'entry') return { text: stringify({ entries: [spec] }), notes };
  const name = values.name ?? defaultName(entry);
  const manifest = {
    apiVersion: `${REVOCATION_CRD.group}/${REVOCATION_CRD.version}`,
    kind: REVOCATION_CRD.kind,
    metadata: { name, ...(values.namespace ? { namespace: values.namespace } : {}) },
    spec,
  };
  return { text: stringify(manifest), notes };
}

/** The entry as written in the file and the resource's spec (times as RFC 3339 UTC). */
function specOf(e: RevocationEntry): Record<string, string> {
  const t = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
  const exp: Record<string, string> = e.expiresAt !== undefined ? { expiresAt: t(e.expiresAt) } : {};
  if (e.kind === 'apiKey') return { apiKey: e.sha256, ...exp };
  if (e.kind === 'jti') return { issuer: e.issuer, jti: e.jti, ...exp };
  return { issuer: e.issuer, subject: e.subject, notBefore: t(e.notBefore), ...exp };
}

/** A DNS-1123 name that depends only on what is revoked (not on the times). */
function defaultName(e: RevocationEntry): string {
  const id = e.kind === 'apiKey' ? e.sha256 : `${e.issuer}\n${e.kind === 'jti' ? e.jti : e.subject}`;
  return `${e.kind === 'apiKey' ? 'apikey' : e.kind === 'jti' ? 'jti' : 'subject'}-${hash('sha256', id, 'hex').slice(0, 16)}`;
}

export const REVOKE_COMMAND: CliCommand = {
  name: 'revoke',
  usage: REVOKE_USAGE,
  exitCodes: { [EXIT.OK]: 'the manifest or entry is on stdout', [EXIT.USAGE]: 'a missing, unknown or malformed flag' },
  run: runRevoke,
};

export function runRevoke(args: string[]): number {
  const out = revoke(args);
  for (const n of out.notes) process.stderr.write(`note: ${n}\n`);
  process.stdout.write(out.text);
  return 0;
}
