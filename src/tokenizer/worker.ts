import { parentPort, workerData } from 'node:worker_threads';
import { encodingFor, registerTokenizerFile, type TokenizerRegistration } from './registry.js';

// Worker thread body: counts or tokenizes big prompts off the main event loop.

export interface WorkerJob {
  id: number;
  op: 'count' | 'tokenize';
  model: string;
  text: string;
}
export type WorkerReply = { id: number; result: number | number[] } | { id: number; error: string };

for (const r of (workerData as { registrations: TokenizerRegistration[] }).registrations) {
  registerTokenizerFile(r.modelPattern, r.path);
}

parentPort!.on('message', (job: WorkerJob) => {
  let reply: WorkerReply;
  try {
    const enc = encodingFor(job.model);
    reply = { id: job.id, result: job.op === 'count' ? enc.count(job.text) : enc.encode(job.text) };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
