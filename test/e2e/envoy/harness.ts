// Helpers shared by the suites that run the real router behind a real Envoy (test/support/envoy-process.ts).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findHttpFilter, type EnvoyBootstrap } from '../../support/envoy-process.js';

export type BodyMode = 'BUFFERED' | 'STREAMED' | 'FULL_DUPLEX_STREAMED';
export const BODY_MODES: BodyMode[] = ['BUFFERED', 'STREAMED', 'FULL_DUPLEX_STREAMED'];

/** Switches the ext_proc filter's request and response body modes: the only change a body-mode variant makes. */
export function setBodyMode(cfg: EnvoyBootstrap, mode: BodyMode): void {
  const pm = findHttpFilter(cfg, 'envoy.filters.http.ext_proc').processing_mode;
  pm.request_body_mode = mode;
  pm.response_body_mode = mode;
}

/** A temporary resources directory for `kthena-router --resources`, with one fleet.yaml (and optional config). */
export async function resourcesDir(fleet: string, config?: string): Promise<{ dir: string; config: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kthena-envoy-e2e-'));
  const res = join(dir, 'resources');
  await mkdir(res);
  await writeFile(join(res, 'fleet.yaml'), fleet);
  const configPath = join(dir, 'config.yaml');
  await writeFile(configPath, config ?? '{}\n');
  return { dir: res, config: configPath, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

/** POST /v1/chat/completions through Envoy; the whole answer is read. */
export async function chat(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The JSON payloads of an SSE body's `data:` events, without the final [DONE]. */
export function sseEvents(text: string): Array<Record<string, any>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l.trim() !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)));
}

export function userMessage(content: string) {
  return [{ role: 'user', content }];
}
