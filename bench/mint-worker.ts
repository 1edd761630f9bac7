// worker_threads entry for tokens.mintParallel: mints a slice of tokens with node:crypto.
import { parentPort, workerData } from 'node:worker_threads';
import { keyFromPem, mintMany, type BenchAlg, type TokenClaims } from './lib/tokens.js';

interface Job {
  alg: BenchAlg;
  kid: string;
  pem: string;
  base: Omit<TokenClaims, 'subject'>;
  from: number;
  count: number;
  subjectPrefix: string;
}
const job = workerData as Job;
const key = keyFromPem(job.alg, job.kid, job.pem);
const tokens = mintMany(key, job.base, job.count, job.subjectPrefix, job.from);
parentPort!.postMessage(tokens);
