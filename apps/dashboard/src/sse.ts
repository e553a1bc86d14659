/**
 * Server-Sent Events read with fetch and a ReadableStream rather than EventSource, so the API key travels in
 * a header (EventSource cannot send one) and never in a URL or an access log.
 */

export interface SseEvent {
  /** `message` when the event named none. */
  event: string;
  data: string;
  /** The last `id:` seen on the stream so far (it carries over to later events, as in the spec). */
  id: string;
}

/**
 * The text/event-stream grammar (WHATWG HTML §9.2.6), fed in chunks of any size: lines end in CRLF, LF or CR
 * (a CR at the end of one chunk and an LF at the start of the next are one line end), `:` starts a comment,
 * one space after the colon is dropped, a blank line dispatches, and an event with no data is not one.
 */
export class SseParser {
  private buffer = '';
  private skipLeadingLf = false;
  private data: string[] = [];
  private eventType = '';
  lastEventId = '';
  /** The `retry:` the server asked for, in ms. */
  retryMs: number | undefined;

  feed(chunk: string): SseEvent[] {
    let text = chunk;
    if (this.skipLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLeadingLf = false;
    this.buffer += text;
    const events: SseEvent[] = [];
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.buffer.slice(0, end);
      let next = end + 1;
      if (this.buffer[end] === '\r') {
        if (next === this.buffer.length) this.skipLeadingLf = true;
        else if (this.buffer[next] === '\n') next += 1;
      }
      this.buffer = this.buffer.slice(next);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const data = this.data;
    const eventType = this.eventType;
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return undefined;
    return { event: eventType || 'message', data: data.join('\n'), id: this.lastEventId };
  }
}
