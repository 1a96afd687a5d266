// The official `openai` client against /api/v1 (OPERATOR_URL, OPERATOR_API_KEY): lists the
// models, gets a completion, continues the same chat with a stream, and is refused a model the
// endpoint does not serve. Prints what it saw as JSON; exits non-zero on any failure.
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: `${process.env.OPERATOR_URL}/api/v1`,
  apiKey: process.env.OPERATOR_API_KEY,
  maxRetries: 0,
});

const models = await client.models.list();
const modelIds = models.data.map((m) => m.id);

const { data: completion, response } = await client.chat.completions
  .create({
    model: 'operator',
    messages: [
      { role: 'system', content: 'Ignored: the Operator agent has its own instructions.' },
      { role: 'user', content: 'Create an instance called openai-desk.' },
    ],
  })
  .withResponse();
const chatId = response.headers.get('x-operator-chat-id');
if (!chatId || completion.metadata?.chatId !== chatId) {
  throw new Error(`no chat id: header ${chatId}, body ${JSON.stringify(completion.metadata)}`);
}

const stream = await client.chat.completions.create({
  model: 'operator',
  stream: true,
  metadata: { chatId },
  messages: [{ role: 'user', content: [{ type: 'text', text: 'What did you just do?' }] }],
});
let streamed = '';
let chunks = 0;
let finish = null;
let role = null;
for await (const chunk of stream) {
  chunks += 1;
  const choice = chunk.choices[0];
  role ??= choice.delta.role ?? null;
  streamed += choice.delta.content ?? '';
  finish = choice.finish_reason ?? finish;
  if (chunk.object !== 'chat.completion.chunk' || chunk.model !== 'operator') {
    throw new Error(`unexpected chunk ${JSON.stringify(chunk)}`);
  }
}

let refused = null;
try {
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
} catch (e) {
  if (!(e instanceof OpenAI.APIError)) throw e;
  refused = { status: e.status, message: e.message };
}

console.log(JSON.stringify({
  models: modelIds,
  chatId,
  completion: {
    object: completion.object,
    model: completion.model,
    content: completion.choices[0].message.content,
    role: completion.choices[0].message.role,
    finishReason: completion.choices[0].finish_reason,
  },
  stream: { text: streamed, chunks, finish, role },
  refused,
}));
