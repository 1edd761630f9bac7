// server.tls files → checked key material. Everything a handshake would trip over later is
// caught here, at start (a clear error naming the field and file) and on every reload (the
// last good material stays): unreadable files, non-PEM content, a key that does not belong to
// the certificate, an unparsable CA bundle. Never logs key material.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ZtAuthzError, type ErrorCode } from '../../errors.js';

export interface TlsFileSettings {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

/** Checked material for one generation of the files. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** SHA-256 over the three files' bytes: unchanged files are not re-checked or re-applied. */
  hash: string;
  /** Leaf certificate facts for logs and the expiry gauge (no secrets). */
  serial: string;
  fingerprint256: string;
  subject: string;
  notAfter: Date;
}

export type TlsField = 'certFile' | 'keyFile' | 'clientCaFile';

/**
 * A problem with one of the files; `field` is the server.tls key that names it. Its own code
 * (ERR_TLS_FILE), not a key error's: the certificate or CA bundle is as often the culprit.
 */
export class TlsFileError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_TLS_FILE';
  constructor(
    readonly field: TlsField,
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

function read(field: TlsField, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsFileError(field, file, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The raw bytes of the files and their combined hash, without checking them. */
export function readTlsBytes(s: TlsFileSettings): { cert: Buffer; key: Buffer; ca?: Buffer; hash: string } {
  const cert = read('certFile', s.certFile);
  const key = read('keyFile', s.keyFile);
  const ca = s.clientCaFile ? read('clientCaFile', s.clientCaFile) : undefined;
  const h = createHash('sha256');
  for (const b of [cert, key, ca ?? Buffer.alloc(0)]) h.update(createHash('sha256').update(b).digest());
  return { cert, key, ...(ca ? { ca } : {}), hash: h.digest('hex') };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Check bytes read by readTlsBytes; throws TlsFileError naming the offending file. */
export function checkTlsBytes(s: TlsFileSettings, bytes: { cert: Buffer; key: Buffer; ca?: Buffer; hash: string }): TlsMaterial {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(bytes.cert);
  } catch {
    throw new TlsFileError('certFile', s.certFile, 'not a PEM certificate');
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(bytes.key);
  } catch {
    throw new TlsFileError('keyFile', s.keyFile, 'not an unencrypted PEM private key');
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new TlsFileError('keyFile', s.keyFile, `private key does not match the certificate in ${s.certFile}`);
  if (bytes.ca && s.clientCaFile) {
    const blocks = bytes.ca.toString('latin1').match(PEM_CERT) ?? [];
    if (blocks.length === 0) throw new TlsFileError('clientCaFile', s.clientCaFile, 'no PEM certificate in the CA bundle');
    blocks.forEach((b, i) => {
      try {
        new X509Certificate(b);
      } catch {
        throw new TlsFileError('clientCaFile', s.clientCaFile!, `certificate ${i + 1} of the CA bundle does not parse`);
      }
    });
  }
  // What the listeners will do with it: catches anything OpenSSL refuses that the checks above
  // let through (e.g. a broken intermediate in the chain).
  try {
    createSecureContext({ cert: bytes.cert, key: bytes.key, ...(bytes.ca ? { ca: bytes.ca } : {}) });
  } catch (err) {
    throw new TlsFileError('certFile', s.certFile, `rejected by OpenSSL: ${(err as Error).message}`);
  }
  return {
    cert: bytes.cert,
    key: bytes.key,
    ...(bytes.ca ? { ca: bytes.ca } : {}),
    hash: bytes.hash,
    serial: leaf.serialNumber,
    fingerprint256: leaf.fingerprint256,
    subject: leaf.subject.replace(/\n/g, ', '),
    notAfter: new Date(leaf.validTo),
  };
}

/** Read and check the files once. */
export function readTlsFiles(s: TlsFileSettings): TlsMaterial {
  return checkTlsBytes(s, readTlsBytes(s));
}
