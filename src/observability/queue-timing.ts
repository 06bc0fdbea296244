import { fairnessQueueDuration, fairnessQueueSize } from './kthena-metrics.js';

/**
 * Times a wait in flow control under Kthena's fairness-queue series. Raw user ids are never labels (user_id is
 * `_all`, as in Kthena). A request that passes straight through is in the gauge for no longer than a microtask.
 */
export async function timeQueue<T>(model: string, wait: () => Promise<T>): Promise<T> {
  const labels = { model, user_id: '_all' };
  const started = performance.now();
  fairnessQueueSize.inc(labels);
  try {
    return await wait();
  } finally {
    fairnessQueueSize.dec(labels);
    fairnessQueueDuration.observe(labels, (performance.now() - started) / 1000);
  }
}
