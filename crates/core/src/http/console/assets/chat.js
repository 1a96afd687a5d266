// Chat with the Operator agent: the history list, the conversation (assistant text as
// markdown, tool steps as collapsible cards with their input and output) and the composer.
// A turn streams over /api/chat; after a reload the page re-attaches to a running turn with
// /api/chat/{id}/stream (replayed from the start of that turn, then live).

import { h, put, alertBox, ago, ask } from './dom.js';
import { get, del, stream, enc } from './api.js';
import { markdown } from './markdown.js';

export async function chatPage(ctx) {
  const chatId = ctx.params[0] || null;
  const history = h('ul', { class: 'history', 'aria-label': 'Chat history' });
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const status = h('div', { class: 'turn-status' });
  const errors = h('div');
  const input = h('textarea', { id: 'message', rows: 2, placeholder: 'Ask the Operator… (Enter sends, Shift+Enter for a new line)', 'aria-label': 'Message' });
  const send = h('button', { type: 'submit' }, 'Send');
  const form = h('form', { class: 'composer' }, input, send);
  const state = { chatId, busy: false };

  put(ctx.main,
    h('div', { class: 'chat' },
      h('aside', { class: 'chats' },
        h('div', { class: 'row' }, h('h2', {}, 'Chats'), h('a', { class: 'button secondary', href: '/chat' }, 'New chat')),
        history),
      h('section', { class: 'conversation', 'aria-labelledby': 'chat-title' },
        h('h1', { id: 'chat-title' }, 'Chat'),
        log, status, errors, form)));

  const loadHistory = async () => {
    const { chats } = await get('/api/chat/history?limit=50', { signal: ctx.signal });
    put(history, chats.length ? chats.map((c) => h('li', {},
      h('a', { href: `/chat/${enc(c.id)}`, 'aria-current': c.id === state.chatId ? 'page' : null }, c.title || 'Untitled chat'),
      ' ', h('small', { class: 'muted' }, ago(c.updatedAt)),
    )) : h('li', { class: 'muted' }, 'No chats yet.'));
  };

  const setBusy = (busy) => {
    state.busy = busy;
    send.disabled = busy;
    put(status, busy ? h('div', { role: 'status', class: 'working' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Working…') : null);
  };

  /// Runs one turn's event stream into a fresh assistant message.
  const follow = async (request) => {
    const turn = assistantMessage();
    log.append(turn.el);
    setBusy(true);
    put(errors);
    try {
      await request((ev) => {
        if (ev.type === 'start' && ev.messageMetadata && ev.messageMetadata.chatId && !state.chatId) {
          state.chatId = ev.messageMetadata.chatId;
          window.history.replaceState(null, '', `/chat/${enc(state.chatId)}`);
        }
        turn.apply(ev);
        log.scrollTop = log.scrollHeight;
      });
    } catch (e) {
      if (e.name === 'AbortError') return;
      errors.append(alertBox(e));
    } finally {
      if (!ctx.signal.aborted) {
        setBusy(false);
        turn.done();
        loadHistory().catch(() => {});
      }
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text || state.busy) return;
    input.value = '';
    log.append(userMessage(text));
    const body = { messages: [{ role: 'user', parts: [{ type: 'text', text }] }] };
    if (state.chatId) body.id = state.chatId;
    follow((on) => stream('/api/chat', body, on, ctx.signal));
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });

  loadHistory().catch((e) => history.append(h('li', {}, alertBox(e))));
  if (chatId) {
    const { chat, messages } = await get(`/api/chat/${enc(chatId)}`, { signal: ctx.signal });
    put(ctx.main.querySelector('#chat-title'), chat.title || 'Chat');
    const actions = h('button', {
      type: 'button', class: 'secondary small', 'aria-label': `Delete chat ${chat.title || ''}`.trim(),
      onclick: async () => {
        if (!(await ask('Delete this chat and its history?', [], 'Delete'))) return;
        try { await del(`/api/chat/${enc(chatId)}`); ctx.go('/chat'); } catch (e) { errors.append(alertBox(e)); }
      },
    }, 'Delete chat');
    const title = ctx.main.querySelector('#chat-title');
    const row = h('div', { class: 'row chat-head' });
    title.replaceWith(row);
    row.append(title, actions);
    for (const m of messages) log.append(m.role === 'user' ? userMessage(textOf(m.parts)) : storedAssistant(m.parts));
    log.scrollTop = log.scrollHeight;
    // The last word is the user's: a turn is queued or running. Re-attach to it.
    if (messages.length && messages[messages.length - 1].role === 'user') {
      follow((on) => stream(`/api/chat/${enc(chatId)}/stream`, undefined, on, ctx.signal));
    }
  } else {
    log.append(h('div', { class: 'empty' },
      h('p', {}, 'Ask the Operator agent to run the platform for you:'),
      h('ul', {}, ['Create an instance called weather-desk.', 'List my instances and their status.', 'Every weekday at 9:00 New York time, summarise overnight activity.']
        .map((t) => h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => { input.value = t; input.focus(); } }, t))))));
  }
  input.focus();
}

function textOf(parts) {
  return (parts || []).filter((p) => p.type === 'text').map((p) => p.text).join('\n');
}

function userMessage(text) {
  return h('article', { class: 'msg user', 'aria-label': 'You' }, h('div', { class: 'bubble' }, text));
}

function storedAssistant(parts) {
  const m = assistantMessage();
  for (const p of parts || []) {
    if (p.type === 'text') m.text(p.text);
    else if (p.type && p.type.startsWith('tool-')) {
      const card = m.tool(p.toolCallId, p.type.slice(5), p.input);
      if ('output' in p) card.output(p.output);
      else if (p.errorText) card.output({ error: { message: p.errorText } });
    }
  }
  m.done();
  return m.el;
}

/// One assistant message built from stream events (or stored parts).
function assistantMessage() {
  const body = h('div', { class: 'parts' });
  const el = h('article', { class: 'msg assistant', 'aria-label': 'Operator' }, body);
  const texts = new Map(); // text id → {node, src}
  const tools = new Map(); // toolCallId → card
  const renderText = (t) => put(t.node, markdown(t.src));
  const api = {
    el,
    text(src) {
      const t = { node: h('div', { class: 'text' }), src };
      body.append(t.node);
      renderText(t);
    },
    tool(id, name, input) {
      const state = h('span', { class: 'tool-state running' }, 'running…');
      const out = h('pre', { 'aria-label': 'Output' }, '…');
      const card = h('details', { class: 'tool' },
        h('summary', {}, h('span', { class: 'tool-icon', 'aria-hidden': 'true' }, '⚙'), h('code', {}, name), ' ', state),
        h('div', { class: 'io' },
          h('h4', {}, 'Input'), h('pre', { 'aria-label': 'Input' }, pretty(input)),
          h('h4', {}, 'Output'), out));
      body.append(card);
      const c = {
        output(o) {
          put(out, pretty(o));
          const failed = o && typeof o === 'object' && o.error;
          state.className = `tool-state ${failed ? 'error' : 'done'}`;
          put(state, failed ? 'error' : 'done');
        },
      };
      tools.set(id, c);
      return c;
    },
    apply(ev) {
      switch (ev.type) {
        case 'text-start': {
          const t = { node: h('div', { class: 'text' }), src: '' };
          texts.set(ev.id, t);
          body.append(t.node);
          break;
        }
        case 'text-delta': {
          let t = texts.get(ev.id);
          if (!t) { t = { node: h('div', { class: 'text' }), src: '' }; texts.set(ev.id, t); body.append(t.node); }
          t.src += ev.delta;
          renderText(t);
          break;
        }
        case 'tool-input-available':
          api.tool(ev.toolCallId, ev.toolName, ev.input);
          break;
        case 'tool-output-available': {
          const c = tools.get(ev.toolCallId);
          if (c) c.output(ev.output);
          break;
        }
        case 'tool-output-error': {
          const c = tools.get(ev.toolCallId);
          if (c) c.output({ error: { message: ev.errorText } });
          break;
        }
        case 'error':
          body.append(h('div', { class: 'alert', role: 'alert' }, ev.errorText || 'The turn failed.'));
          break;
        default:
      }
    },
    done() {
      if (!body.childNodes.length) body.append(h('p', { class: 'muted' }, '(no answer)'));
    },
  };
  return api;
}

function pretty(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  try { return JSON.stringify(v, null, 2); } catch { return String(v); }
}
