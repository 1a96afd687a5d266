// `/api/chat`: the Operator agent. `send` waits for the turn and returns its text (JSON mode);
// `stream` yields the AI SDK UI message chunks as they are produced; `reattach` resumes a turn
// by event id. Chat POSTs are never retried after a server error (that would post the message
// twice); a 429 is retried.
import type { HttpClient, RequestOptions, Sent } from '../core.js';
import { OperatorError } from '../errors.js';
import type { PageIterator } from '../pagination.js';
import { paginate, seg } from './paginate.js';
import { parseSse } from '../sse.js';
import type {
  ChatList,
  ChatReply,
  ChatRequest,
  ChatWithMessages,
  ListParams,
  OkResponse,
  Chat as ChatSummary,
  UIMessageChunk,
} from '../types.js';

/** A message as the AI SDK's `useChat` sends it (only the last, a user message, is new input). */
export type ChatRequestMessage = ChatRequest['messages'][number];

export interface ChatSendParams {
  /** The user's message. */
  text: string;
  /** Continue this chat; omit to start a new one (its id comes back as `chatId`). */
  chatId?: string | undefined;
}

export interface ChatStreamParams {
  /** The user's message (or give `messages`). */
  text?: string | undefined;
  /** Continue this chat; omit to start a new one (`stream.chatId` has it after the first chunk). */
  chatId?: string | undefined;
  /** AI SDK UIMessages, as `useChat` sends them, instead of `text`. */
  messages?: ChatRequestMessage[] | undefined;
  /**
   * `regenerate-message`: answer the last turn (or the one of `messageId`) again, replacing the
   * old answer; `submit-message` with `messageId`: replace that stored user message (an edit).
   */
  trigger?: ChatRequest['trigger'];
  /** The stored message (`msg_...`) `trigger` is about. */
  messageId?: string | undefined;
}

export interface ReattachParams {
  /** Replay only the events after this SSE id (`Last-Event-ID`). */
  after?: string | number | undefined;
}

/** How long `send` waits for a turn by default (it returns only when the agent is done). */
const SEND_TIMEOUT_MS = 10 * 60 * 1000;

function userMessage(text: string): ChatRequestMessage {
  return { role: 'user', parts: [{ type: 'text', text }] } as ChatRequestMessage;
}

/**
 * A chat turn's event stream: `for await (const chunk of stream)` yields typed UI message
 * chunks until the turn ends (`[DONE]`). It can be read once.
 */
export class ChatStream implements AsyncIterable<UIMessageChunk> {
  /** The chat's id: known after the `start` chunk (or from the start for `reattach`). */
  chatId: string | undefined;
  /** The assistant message's id, from the `start` chunk. */
  messageId: string | undefined;
  /** The SSE id of the last chunk read: pass it to `chat.reattach(chatId, { after })` to resume. */
  lastEventId: string | undefined;
  /** The HTTP response, once it arrived. */
  response: Response | undefined;
  private started = false;
  private sent: Promise<Sent> | undefined;

  constructor(
    private readonly open: () => Promise<Sent>,
    chatId?: string,
  ) {
    this.chatId = chatId;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<UIMessageChunk, void, undefined> {
    if (this.started) throw new OperatorError({ code: 'stream_consumed', message: 'a ChatStream can be read only once' });
    this.started = true;
    const sent = await this.start();
    const body = sent.response.body;
    // 204: re-attached to a chat with no turn running (nothing to resume).
    if (sent.response.status === 204) {
      sent.done();
      return;
    }
    try {
      if (!body) throw new OperatorError({ status: sent.response.status, code: 'invalid_stream', message: 'the response has no body' });
      for await (const event of parseSse(body)) {
        if (event.data === '[DONE]') return;
        let chunk: UIMessageChunk;
        try {
          chunk = JSON.parse(event.data) as UIMessageChunk;
        } catch (cause) {
          throw new OperatorError({ code: 'invalid_stream', message: `a chunk is not JSON: ${event.data.slice(0, 200)}`, cause });
        }
        if (event.id !== undefined) this.lastEventId = event.id;
        if (chunk.type === 'start') {
          this.messageId = chunk.messageId ?? this.messageId;
          this.chatId = chunk.messageMetadata?.chatId ?? this.chatId;
        }
        yield chunk;
      }
    } catch (cause) {
      throw sent.bodyError(cause);
    } finally {
      sent.done();
    }
  }

  /** Makes the request (once) and waits for the response's head. */
  private start(): Promise<Sent> {
    this.sent ??= this.open().then((sent) => {
      this.response = sent.response;
      return sent;
    });
    return this.sent;
  }

  /**
   * True when the server had nothing to stream: a `reattach` to a chat whose last turn has
   * ended (204). Makes the request if it was not made yet.
   */
  async isEmpty(): Promise<boolean> {
    return (await this.start()).response.status === 204;
  }

  /**
   * Reads the stream to its end and returns the assistant's text: its text parts joined with
   * newlines (what `chat.send` returns). An `error` chunk is thrown as an `OperatorError`.
   */
  async text(): Promise<string> {
    const parts = new Map<string, string>();
    for await (const chunk of this) {
      if (chunk.type === 'text-start') parts.set(chunk.id, '');
      else if (chunk.type === 'text-delta') parts.set(chunk.id, (parts.get(chunk.id) ?? '') + chunk.delta);
      else if (chunk.type === 'error') throw new OperatorError({ code: 'agent_error', message: chunk.errorText });
    }
    return [...parts.values()].join('\n');
  }

  /** The chunks as a web `ReadableStream` (what an AI SDK `ChatTransport` returns). */
  toReadableStream(): ReadableStream<UIMessageChunk> {
    const it = this[Symbol.asyncIterator]();
    return new ReadableStream<UIMessageChunk>({
      async pull(controller) {
        try {
          const { done, value } = await it.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (e) {
          controller.error(e);
        }
      },
      async cancel() {
        await it.return(undefined);
      },
    });
  }
}

export class ChatResource {
  constructor(private readonly http: HttpClient) {}

  /** Sends a message and waits for the whole turn: `{ chatId, text }`. */
  send(params: ChatSendParams, options?: RequestOptions): Promise<ChatReply> {
    const body: ChatRequest = { messages: [userMessage(params.text)] };
    if (params.chatId) body.id = params.chatId;
    return this.http.json<ChatReply>({
      method: 'POST',
      path: '/api/chat',
      body,
      retry: 'rate-limit-only',
      options: {
        ...options,
        timeout: options?.timeout ?? Math.max(this.http.config.timeout, SEND_TIMEOUT_MS),
        headers: { ...options?.headers, 'x-response-format': 'json' },
      },
    });
  }

  /**
   * Sends a message and streams the turn: an async iterable of typed UI message chunks
   * (the request is made when iteration starts).
   */
  stream(params: ChatStreamParams, options?: RequestOptions): ChatStream {
    const messages = params.messages ?? (params.text !== undefined ? [userMessage(params.text)] : undefined);
    if (!messages) throw new OperatorError({ code: 'invalid_request', message: 'chat.stream needs `text` or `messages`' });
    const body: ChatRequest = { messages };
    if (params.chatId) body.id = params.chatId;
    if (params.trigger) body.trigger = params.trigger;
    if (params.messageId) body.messageId = params.messageId;
    return new ChatStream(
      () =>
        this.http.stream({
          method: 'POST',
          path: '/api/chat',
          body,
          retry: 'rate-limit-only',
          // The idempotency layer buffers a response to store it: it would hold the stream back.
          options: { ...options, idempotencyKey: false },
        }),
      params.chatId,
    );
  }

  /**
   * Re-attaches to the chat's running turn: replays what came after `after` (from its start
   * without), then follows it live. With no turn running the stream is empty (`isEmpty()`),
   * unless `after` is given: then the last turn is replayed after it (`after: 0`: all of it).
   */
  reattach(chatId: string, params?: ReattachParams, options?: RequestOptions): ChatStream {
    const headers: Record<string, string> = { ...options?.headers };
    if (params?.after !== undefined) headers['last-event-id'] = String(params.after);
    return new ChatStream(
      () =>
        this.http.stream({
          method: 'GET',
          path: `/api/chat/${seg(chatId)}/stream`,
          options: { ...options, headers },
        }),
      chatId,
    );
  }

  /** The account's chats, newest first, every page. */
  history(params?: ListParams, options?: RequestOptions): PageIterator<ChatSummary> {
    return paginate(this.http, '/api/chat/history', params, options, (b: ChatList) => b.chats);
  }

  /** A chat and its messages (assistant parts include text and tool parts). */
  get(chatId: string, options?: RequestOptions): Promise<ChatWithMessages> {
    return this.http.json({ method: 'GET', path: `/api/chat/${seg(chatId)}`, options });
  }

  delete(chatId: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/chat/${seg(chatId)}`, options });
  }
}
