// Upstream paths for providers. `baseURL` follows the providers' own SDK convention: OpenAI-compatible bases include
// the API version (`https://api.openai.com/v1`, `https://generativelanguage.googleapis.com/v1beta/openai`), so the
// client's `/v1/chat/completions` becomes `<base path>/chat/completions`; Anthropic's base is the bare host
// (`https://api.anthropic.com`) and the Messages API lives at `/v1/messages`.

/** The client's path relative to its API version: `/v1/chat/completions?x` → `/chat/completions?x`. */
function versionRelative(clientPath: string): string {
  const q = clientPath.indexOf('?');
  const path = q < 0 ? clientPath : clientPath.slice(0, q);
  const query = q < 0 ? '' : clientPath.slice(q);
  const m = /\/v1(\/.*)$/.exec(path);
  return (m ? m[1]! : path) + query;
}

function basePath(base: URL): string {
  return base.pathname.replace(/\/+$/, '');
}

export function openAiPath(base: URL, clientPath: string): string {
  return basePath(base) + versionRelative(clientPath);
}

export function anthropicMessagesPath(base: URL): string {
  const prefix = basePath(base);
  return prefix.endsWith('/v1') ? `${prefix}/messages` : `${prefix}/v1/messages`;
}
