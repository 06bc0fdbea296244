import { createServer } from 'node:http';

// Instant model servers for bench:gateway, run as a child process: every IP given listens on the same port (as a
// ModelServer's pods share their workloadPort). A POST is read whole and answered at once with a one-token chat
// completion; /metrics shows an idle vLLM, so a picker that scrapes sees every pod ready and equal.
//
//   tsx bench/gateway/upstream.ts PORT IP [IP ...]     prints "ready" once every IP listens

const [portArg, ...ips] = process.argv.slice(2);
const port = Number(portArg);
const METRICS = [
  'vllm:num_requests_running{model_name="bench"} 0',
  'vllm:num_requests_waiting{model_name="bench"} 0',
  'vllm:kv_cache_usage_perc{model_name="bench"} 0.01',
  '',
].join('\n');
const ANSWER = JSON.stringify({
  id: 'cmpl-bench',
  object: 'chat.completion',
  model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'length' }],
  usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 },
});

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    const metrics = req.url === '/metrics';
    res.writeHead(200, { 'content-type': metrics ? 'text/plain; version=0.0.4' : 'application/json' });
    res.end(metrics ? METRICS : '{"object":"list","data":[{"id":"bench","object":"model"}]}');
    return;
  }
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
});
server.keepAliveTimeout = 60_000;

let pending = ips.length;
for (const ip of ips) {
  const s = ip === ips[0] ? server : createServer(server.listeners('request')[0] as Parameters<typeof createServer>[1]);
  s.keepAliveTimeout = 60_000;
  s.listen(port, ip, () => {
    if (--pending === 0) process.stdout.write('ready\n');
  });
}
