// The AI SDK's chat (AbstractChat with a plain state, what useChat runs underneath) and its
// DefaultChatTransport against /api/chat (OPERATOR_URL, OPERATOR_API_KEY): send a message,
// regenerate the answer, then — as `useChat({ resume: true })` does on a page load — resume a
// chat whose turn has finished. Prints what it saw as JSON; exits non-zero on any failure.
import { AbstractChat, DefaultChatTransport } from 'ai';

class State {
  constructor(messages = []) {
    this.status = 'ready';
    this.error = undefined;
    this.messages = messages;
  }
  pushMessage = (m) => { this.messages = this.messages.concat(m); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (i, m) => { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; };
  snapshot = (thing) => structuredClone(thing);
}

class Chat extends AbstractChat {
  constructor({ messages, ...init }) {
    super({ ...init, state: new State(messages) });
  }
}

const calls = [];
const transport = new DefaultChatTransport({
  api: `${process.env.OPERATOR_URL}/api/chat`,
  headers: { Authorization: `Bearer ${process.env.OPERATOR_API_KEY}` },
  fetch: async (url, init) => {
    const res = await fetch(url, init);
    calls.push({ method: init?.method ?? 'GET', url: String(url).replace(process.env.OPERATOR_URL, ''), status: res.status, body: init?.body ? JSON.parse(init.body) : undefined });
    return res;
  },
});
const errors = [];
const onError = (e) => errors.push(String(e));
const view = (messages) => messages.map((m) => ({
  id: m.id,
  role: m.role,
  text: m.parts.filter((p) => p.type === 'text').map((p) => p.text).join(''),
}));

const chat = new Chat({ transport, onError });
await chat.sendMessage({ text: 'hello' });
const afterSend = view(chat.messages);
await chat.regenerate();
const afterRegenerate = view(chat.messages);

// A new page: the stored messages are loaded and `resume` asks for a running turn.
const reloaded = new Chat({ id: chat.id, messages: chat.messages, transport, onError });
await reloaded.resumeStream();
const afterResume = view(reloaded.messages);

if (errors.length) throw new Error(`chat errors: ${errors.join('; ')}`);
console.log(JSON.stringify({
  chatId: chat.id,
  afterSend,
  afterRegenerate,
  afterResume,
  resumeStatus: reloaded.status,
  calls: calls.map(({ method, url, status, body }) => ({ method, url, status, trigger: body?.trigger, messageId: body?.messageId })),
}));
