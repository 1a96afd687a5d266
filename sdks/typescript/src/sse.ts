// A Server-Sent Events parser (WHATWG event-stream format) over a fetch body, for the chat
// streams. Reads with getReader() and TextDecoder, so it works wherever fetch does.

export interface SseEvent {
  /** The `id:` of the event, if it had one. */
  id: string | undefined;
  /** The `event:` name; `message` when none was given. */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
}

/** Yields each event of an event stream; comments (`: keepalive`) are skipped. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  let sawData = false;

  function* lines(final: boolean): Generator<string> {
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (!m) break;
      // a lone \r at the very end may be the first half of \r\n: wait for more
      if (m[0] === '\r' && m.index === buffer.length - 1 && !final) break;
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      yield line;
    }
    if (final && buffer) {
      const line = buffer;
      buffer = '';
      yield line;
    }
  }

  function* feed(line: string): Generator<SseEvent> {
    if (line === '') {
      if (sawData) yield { id, event: event || 'message', data: data.join('\n') };
      event = '';
      data = [];
      sawData = false;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      data.push(value);
      sawData = true;
    } else if (field === 'id') {
      if (!value.includes('\0')) id = value;
    } else if (field === 'event') {
      event = value;
    }
  }

  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      for (const line of lines(false)) yield* feed(line);
    }
    buffer += decoder.decode();
    for (const line of lines(true)) yield* feed(line);
    // an event not closed by a blank line at the end of the stream is dropped, as in browsers
  } finally {
    // stopped early (break, abort, error): close the connection
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
