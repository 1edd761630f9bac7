// Test PKI generated at test time with the openssl CLI (P-256 keys: fast): CAs, server
// certificates with SANs localhost/127.0.0.1, client certificates. Nothing is checked in.
import { spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pem {
  cert: string;
  key: string;
  /** Serial number as X509Certificate reports it (upper-case hex). */
  serial: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`openssl unavailable (needed to generate test certificates): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

let seq = 0;

/** A small CA on disk under `dir` that issues server and client certificates. */
export class TestCa {
  readonly cert: string;
  private readonly keyFile: string;
  private readonly certFile: string;

  constructor(
    private readonly dir: string,
    readonly name: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.keyFile = join(dir, `${name}.key`);
    this.certFile = join(dir, `${name}.crt`);
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        this.keyFile,
        '-out',
        this.certFile,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    this.cert = readFileSync(this.certFile, 'utf8');
  }

  /** A leaf certificate: `server` (SAN localhost + 127.0.0.1, serverAuth) or `client` (clientAuth). */
  issue(kind: 'server' | 'client', cn: string): Pem {
    const base = join(this.dir, `${kind}-${cn}-${++seq}`);
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${base}.key`,
        '-out',
        `${base}.csr`,
        '-subj',
        `/CN=${cn}`,
      ],
      this.dir,
    );
    const ext =
      kind === 'server'
        ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n'
        : `subjectAltName=URI:spiffe://cluster.local/ns/istio-system/sa/${cn}\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n`;
    writeFileSync(`${base}.ext`, ext);
    const serial = `0x${randomBytes(8).toString('hex').replace(/^0/, '1')}`;
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        this.certFile,
        '-CAkey',
        this.keyFile,
        '-set_serial',
        serial,
        '-days',
        '1',
        '-extfile',
        `${base}.ext`,
        '-out',
        `${base}.crt`,
      ],
      this.dir,
    );
    const cert = readFileSync(`${base}.crt`, 'utf8');
    return { cert, key: readFileSync(`${base}.key`, 'utf8'), serial: new X509Certificate(cert).serialNumber };
  }
}
