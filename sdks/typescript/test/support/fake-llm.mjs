// A scripted fake LLM speaking the OpenAI Chat Completions wire protocol (plain JSON, and SSE
// with `choices[0].delta` content / tool_calls, a usage chunk when asked, then `[DONE]`) on a
// loopback port; mirrors tests/support/fake_llm.rs. Replies are taken in order; every request
// is kept for the test to inspect.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

/**
 * @typedef {{ text: string, held?: boolean } | { toolCalls: [string, unknown][] } | { status: number, message: string }} Reply
 * A `held` reply is answered only once `release()` is called (`held()` counts the waiting ones).
 */

const tokens = (s) => Math.max(1, Math.floor(s.length / 4));

export async function startFakeLlm(/** @type {Reply[]} */ script = []) {
  const queue = [...script];
  const requests = [];
  let waiting = 0;
  let releaseAll;
  const released = new Promise((r) => (releaseAll = r));
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    requests.push(body);
    const reply = queue.shift() ?? { text: "(the fake LLM's script is exhausted)" };
    if (reply.held) {
      waiting += 1;
      await released;
      waiting -= 1;
    }
    if ('status' in reply) {
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: reply.message, type: 'fake_error' } }));
      return;
    }
    const model = body.model ?? 'fake-model';
    const content = 'text' in reply ? reply.text : null;
    const toolCalls = ('toolCalls' in reply ? reply.toolCalls : []).map(([name, args], i) => ({
      id: `call_${i}_${randomBytes(3).toString('hex')}`,
      type: 'function',
      function: { name, arguments: JSON.stringify(args) },
    }));
    const promptTokens = tokens(JSON.stringify(body.messages ?? []));
    const completionTokens = (content ? tokens(content) : 0) + 10 * toolCalls.length;
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    const finish = toolCalls.length ? 'tool_calls' : 'stop';
    if (body.stream) {
      const chunk = (delta, finishReason) => ({
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        created: 0,
        model,
        choices: [{ index: 0, delta, finish_reason: finishReason }],
      });
      const events = [chunk({ role: 'assistant', content: '' }, null)];
      if (content) for (const piece of content.match(/[^ ]+ ?| /g) ?? []) events.push(chunk({ content: piece }, null));
      toolCalls.forEach((call, index) => events.push(chunk({ tool_calls: [{ index, ...call }] }, null)));
      events.push(chunk({}, finish));
      if (body.stream_options?.include_usage) {
        events.push({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model, choices: [], usage });
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    const message = { role: 'assistant', content };
    if (toolCalls.length) message.tool_calls = toolCalls;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: 0,
        model,
        choices: [{ index: 0, message, finish_reason: finish }],
        usage,
      }),
    );
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    push: (/** @type {Reply} */ reply) => queue.push(reply),
    pending: () => queue.length,
    held: () => waiting,
    release: () => releaseAll(),
    env: () => ({
      OPERATOR_LLM: 'openai',
      OPERATOR_LLM_MODEL: 'fake-model',
      OPERATOR_LLM_BASE_URL: `${url}/v1`,
    }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
