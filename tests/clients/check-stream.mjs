// Reads an /api/chat SSE body on stdin and assembles it with the AI SDK's own parser and
// chunk schema (the code path of useChat's DefaultChatTransport). Prints the final
// UIMessage as JSON; exits non-zero on any schema or protocol error.
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from 'ai';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const body = Buffer.concat(chunks);

const bytes = new ReadableStream({
  start(controller) {
    controller.enqueue(new Uint8Array(body));
    controller.close();
  },
});
const parsed = parseJsonEventStream({ stream: bytes, schema: uiMessageChunkSchema });
const uiChunks = parsed.pipeThrough(
  new TransformStream({
    transform(result, controller) {
      if (!result.success) throw new Error(`chunk rejected by the AI SDK schema: ${result.error}`);
      controller.enqueue(result.value);
    },
  }),
);
let last;
let count = 0;
for await (const message of readUIMessageStream({
  stream: uiChunks,
  onError: (e) => {
    throw e;
  },
})) {
  last = message;
  count += 1;
}
if (!last) throw new Error('no message assembled');
console.log(JSON.stringify({ updates: count, message: last }));
