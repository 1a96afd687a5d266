// The chat resource against the real server and the scripted fake LLM: send (JSON mode) with a
// follow-up, stream with a tool step, reattach by event id, history with pagination, get,
// delete; and the AI SDK's own chat client (AbstractChat, what useChat runs) on our /api/chat,
// through DefaultChatTransport and through this SDK as the transport.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbstractChat, DefaultChatTransport } from 'ai';
import { ChatStream, NotFoundError, Operator, chatTransportOptions, operatorChatTransport } from '../dist/index.js';
import { startFakeLlm } from './support/fake-llm.mjs';
import { startServer, waitFor } from './support/server.mjs';

let server;
let llm;
/** @type {Operator} */
let client;

before(async () => {
  llm = await startFakeLlm([]);
  server = await startServer({ env: llm.env() });
  client = new Operator({ apiKey: server.key, baseURL: server.url });
});

after(async () => {
  await server?.stop();
  await llm?.close();
});

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** useChat's state, without React: what @ai-sdk/react's Chat keeps in a store. */
class MemoryState {
  status = 'ready';
  error = undefined;
  messages = [];
  pushMessage = (m) => {
    this.messages = [...this.messages, m];
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (i, m) => {
    this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)];
  };
  snapshot = (x) => structuredClone(x);
}

class NodeChat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new MemoryState() });
  }
}

/** Asserts the assistant UIMessage the AI SDK assembled: a create_instance tool part, then the text. */
function assertAssistant(message, name) {
  assert.equal(message.role, 'assistant');
  const tool = message.parts.find((p) => p.type === 'tool-create_instance');
  assert.ok(tool, JSON.stringify(message.parts));
  assert.equal(tool.state, 'output-available');
  assert.deepEqual(tool.input, { name });
  assert.equal(tool.output.instance.name, name);
  const texts = message.parts.filter((p) => p.type === 'text');
  assert.equal(texts.length, 1, JSON.stringify(message.parts));
  assert.equal(texts[0].text, `Created ${name}.`);
  assert.equal(texts[0].state, 'done');
  assert.ok(
    message.parts.findIndex((p) => p.type === 'tool-create_instance') < message.parts.findIndex((p) => p.type === 'text'),
  );
  assert.equal(message.parts.filter((p) => p.type === 'step-start').length, 2);
}

describe('chat', () => {
  let streamedChatId;
  let streamedChunks;

  test('send waits for the turn and returns { chatId, text }; a follow-up keeps the chat', async () => {
    llm.push({ text: 'Hello, I am the Operator.' });
    const first = await client.chat.send({ text: 'Hi there' });
    assert.match(first.chatId, /^chat_/);
    assert.equal(first.text, 'Hello, I am the Operator.');
    llm.push({ text: 'You greeted me.' });
    const second = await client.chat.send({ text: 'What did I say?', chatId: first.chatId });
    assert.equal(second.chatId, first.chatId);
    assert.equal(second.text, 'You greeted me.');
    // the model saw the first exchange on the follow-up
    const seen = JSON.stringify(llm.requests.at(-1).messages);
    assert.ok(seen.includes('Hello, I am the Operator.'), seen);
    const chat = await client.chat.get(first.chatId);
    assert.equal(chat.chat.id, first.chatId);
    assert.deepEqual(
      chat.messages.map((m) => m.role),
      ['user', 'assistant', 'user', 'assistant'],
    );
  });

  test('stream yields typed UI message chunks with a tool step, then the text', async () => {
    llm.push({ toolCalls: [['create_instance', { name: 'weather-desk' }]] });
    llm.push({ text: 'Created weather-desk.' });
    const stream = client.chat.stream({ text: 'Create an instance called weather-desk.' });
    assert.ok(stream instanceof ChatStream);
    const chunks = await collect(stream);
    assert.deepEqual(
      chunks.map((c) => c.type),
      [
        'start',
        'start-step',
        'tool-input-available',
        'tool-output-available',
        'finish-step',
        'start-step',
        'text-start',
        'text-delta',
        'text-delta',
        'text-end',
        'finish-step',
        'finish',
      ],
    );
    assert.equal(stream.response.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
    assert.match(stream.chatId, /^chat_/);
    assert.equal(stream.chatId, chunks[0].messageMetadata.chatId);
    assert.match(stream.messageId, /^msg_/);
    const input = chunks[2];
    assert.equal(input.toolName, 'create_instance');
    assert.deepEqual(input.input, { name: 'weather-desk' });
    assert.equal(chunks[3].toolCallId, input.toolCallId);
    assert.equal(chunks[3].output.instance.name, 'weather-desk');
    const text = chunks.filter((c) => c.type === 'text-delta').map((c) => c.delta).join('');
    assert.equal(text, 'Created weather-desk.');
    assert.ok(Number(stream.lastEventId) >= 12, stream.lastEventId);
    // the tool really ran
    assert.equal((await client.instances.get('weather-desk')).name, 'weather-desk');
    streamedChatId = stream.chatId;
    streamedChunks = chunks;
    // a stream is read once
    await assert.rejects(collect(stream), /only once/);
  });

  test('reattach replays the turn, or only what came after an event id; a finished turn is not resumed', async () => {
    // no cursor and no turn running: nothing to resume (204), what useChat's `resume` asks
    const none = client.chat.reattach(streamedChatId);
    assert.equal(await none.isEmpty(), true);
    assert.deepEqual(await collect(none), []);
    assert.equal(none.response.status, 204);
    const all = client.chat.reattach(streamedChatId, { after: 0 });
    assert.deepEqual(await collect(all), streamedChunks);
    const ids = [];
    const probe = client.chat.reattach(streamedChatId, { after: 0 });
    for await (const _chunk of probe) ids.push(Number(probe.lastEventId));
    const afterThird = ids[2];
    const rest = await collect(client.chat.reattach(streamedChatId, { after: afterThird }));
    assert.deepEqual(rest, streamedChunks.slice(3));
    await assert.rejects(collect(client.chat.reattach('chat_nope')), NotFoundError);
  });

  test('a stream broken off mid-turn is resumed live with reattach(chatId, { after: lastEventId })', async () => {
    llm.push({ toolCalls: [['create_instance', { name: 'resume-desk' }]] });
    llm.push({ text: 'Created resume-desk.', held: true });
    const stream = client.chat.stream({ text: 'Create an instance called resume-desk.' });
    const seen = [];
    for await (const chunk of stream) {
      seen.push(chunk.type);
      if (chunk.type === 'finish-step') break; // the client goes away after the tool step
    }
    assert.deepEqual(seen, ['start', 'start-step', 'tool-input-available', 'tool-output-available', 'finish-step']);
    // the turn is still running: the model's second answer is held
    await waitFor('the second model call', () => llm.held() === 1);
    const resumed = client.chat.reattach(stream.chatId, { after: stream.lastEventId });
    const rest = collect(resumed);
    llm.release();
    assert.deepEqual(
      (await rest).map((c) => c.type),
      ['start-step', 'text-start', 'text-delta', 'text-delta', 'text-end', 'finish-step', 'finish'],
    );
    assert.equal(Number(resumed.lastEventId), Number(stream.lastEventId) + 7);
    const reply = await client.chat.get(stream.chatId);
    assert.equal(reply.messages.length, 2);
  });

  test('text() reads a stream to its end', async () => {
    llm.push({ text: 'Just text.' });
    const stream = client.chat.stream({ text: 'Say something', chatId: streamedChatId });
    assert.equal(await stream.text(), 'Just text.');
    assert.equal(stream.chatId, streamedChatId);
  });

  test('history lists every chat across pages; get; delete', async () => {
    const chats = await client.chat.history().toArray();
    assert.ok(chats.length >= 2);
    assert.ok(chats.some((c) => c.id === streamedChatId));
    const pages = [];
    for await (const p of client.chat.history({ limit: 1 }).pages()) pages.push(p);
    assert.equal(pages.length, chats.length);
    assert.deepEqual(
      pages.map((p) => p.items[0].id),
      chats.map((c) => c.id),
    );
    const got = await client.chat.get(streamedChatId);
    const assistant = got.messages[1];
    const tool = assistant.parts.find((p) => p.type === 'tool-create_instance');
    assert.equal(tool.state, 'output-available');
    assert.deepEqual(await client.chat.delete(streamedChatId), { ok: true });
    await assert.rejects(client.chat.get(streamedChatId), NotFoundError);
  });

  test('400 with details for an empty message', async () => {
    await assert.rejects(client.chat.send({ text: '   ' }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 'invalid_request');
      assert.ok(e.details?.messages, JSON.stringify(e.details));
      return true;
    });
  });
});

describe('the AI SDK chat client (useChat) on /api/chat', () => {
  test('DefaultChatTransport with chatTransportOptions(client)', async () => {
    llm.push({ toolCalls: [['create_instance', { name: 'ui-desk' }]] });
    llm.push({ text: 'Created ui-desk.' });
    const chat = new NodeChat({
      id: 'uichat1',
      transport: new DefaultChatTransport(chatTransportOptions(client)),
    });
    await chat.sendMessage({ text: 'Create an instance called ui-desk.' });
    assert.equal(chat.status, 'ready', String(chat.error));
    assert.equal(chat.messages.length, 2);
    assert.equal(chat.messages[0].role, 'user');
    assertAssistant(chat.messages[1], 'ui-desk');
    // the server kept the chat under useChat's id, and the metadata names it
    assert.equal(chat.messages[1].metadata.chatId, 'uichat1');
    const stored = await client.chat.get('uichat1');
    assert.equal(stored.messages.length, 2);
  });

  test('operatorChatTransport(client): this SDK as the transport, with a follow-up', async () => {
    llm.push({ toolCalls: [['create_instance', { name: 'sdk-desk' }]] });
    llm.push({ text: 'Created sdk-desk.' });
    const chat = new NodeChat({ id: 'uichat2', transport: operatorChatTransport(client) });
    await chat.sendMessage({ text: 'Create an instance called sdk-desk.' });
    assert.equal(chat.status, 'ready', String(chat.error));
    assertAssistant(chat.messages[1], 'sdk-desk');
    llm.push({ text: 'It is called sdk-desk.' });
    await chat.sendMessage({ text: 'What is it called?' });
    assert.equal(chat.messages.length, 4);
    const last = chat.messages[3];
    assert.deepEqual(
      last.parts.filter((p) => p.type === 'text').map((p) => p.text),
      ['It is called sdk-desk.'],
    );
    // only the new message was new input: the server's chat has both turns once
    const stored = await client.chat.get('uichat2');
    assert.deepEqual(
      stored.messages.map((m) => m.role),
      ['user', 'assistant', 'user', 'assistant'],
    );
  });
});
