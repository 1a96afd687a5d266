// The AI SDK's `useChat` on Operator's `/api/chat`, two ways, without the SDK depending on `ai`:
//
//   new DefaultChatTransport(chatTransportOptions(client))   // the AI SDK's own HTTP transport
//   useChat({ transport: operatorChatTransport(client) })    // this SDK as the transport
//
// The server speaks the UI message stream protocol v1, accepts useChat's chat ids as `id`, and
// serves `GET /api/chat/{id}/stream`, the path DefaultChatTransport re-attaches (resume) with.
import type { Operator } from './client.js';
import type { ChatRequestMessage, ChatStreamParams } from './resources/chat.js';
import type { UIMessageChunk } from './types.js';

/** Options for the AI SDK's `new DefaultChatTransport(...)`: our `/api/chat` and the bearer key. */
export function chatTransportOptions(client: Operator): {
  api: string;
  headers: Record<string, string>;
  credentials: 'omit';
} {
  return {
    api: `${client.baseURL}/api/chat`,
    headers: { Authorization: `Bearer ${client.apiKey}` },
    credentials: 'omit',
  };
}

/** The AI SDK's `ChatTransport` shape (structurally, so `ai` stays optional). */
export interface OperatorChatTransport {
  sendMessages(options: {
    chatId: string;
    messages: unknown[];
    abortSignal: AbortSignal | undefined;
    [key: string]: unknown;
  }): Promise<ReadableStream<UIMessageChunk>>;
  reconnectToStream(options: { chatId: string; [key: string]: unknown }): Promise<ReadableStream<UIMessageChunk> | null>;
}

/** A `ChatTransport` for `useChat` that goes through this SDK (its key, errors and 429 retries). */
export function operatorChatTransport(client: Operator): OperatorChatTransport {
  return {
    async sendMessages({ chatId, messages, abortSignal, trigger, messageId }) {
      const stream = client.chat.stream(
        {
          chatId,
          messages: messages as ChatRequestMessage[],
          trigger: trigger as ChatStreamParams['trigger'],
          messageId: typeof messageId === 'string' ? messageId : undefined,
        },
        { signal: abortSignal ?? undefined },
      );
      return stream.toReadableStream();
    },
    async reconnectToStream({ chatId }) {
      // 204 (no turn running): null tells the AI SDK there is nothing to resume.
      const stream = client.chat.reattach(chatId);
      return (await stream.isEmpty()) ? null : stream.toReadableStream();
    },
  };
}
