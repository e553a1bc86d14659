import { SseParser } from './sse';

describe('SseParser', () => {
  it('reads the stream of GET /alerts/stream: event, id, data, a heartbeat comment', () => {
    const parser = new SseParser();
    const events = parser.feed(': heartbeat\n\nevent: alert\nid: c1\ndata: {"id":"a"}\n\n');
    expect(events).toEqual([{ event: 'alert', id: 'c1', data: '{"id":"a"}' }]);
    expect(parser.lastEventId).toBe('c1');
  });

  it('joins an event cut anywhere across chunks, CRLF split between two of them included', () => {
    const text = 'event: alert\r\nid: 42\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: alert\rid: 43\rdata: x\r\r';
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.feed(text.slice(0, cut)), ...parser.feed(text.slice(cut))];
      expect(events).toEqual([
        { event: 'alert', id: '42', data: '{"a":\n1}' },
        { event: 'alert', id: '43', data: 'x' },
      ]);
    }
  });

  it('dispatches nothing for an event without data, keeps the last id for later events, reads retry', () => {
    const parser = new SseParser();
    expect(parser.feed('id: 7\nevent: alert\n\n')).toEqual([]);
    expect(parser.feed('data:no space\nretry: 2500\n\n')).toEqual([
      { event: 'message', id: '7', data: 'no space' },
    ]);
    expect(parser.retryMs).toBe(2500);
  });

  it('ignores unknown fields and an id holding NUL', () => {
    const parser = new SseParser();
    expect(parser.feed('foo: bar\nid: a\0b\ndata: y\n\n')).toEqual([{ event: 'message', id: '', data: 'y' }]);
  });

  it('keeps an unfinished line until its end arrives', () => {
    const parser = new SseParser();
    expect(parser.feed('data: par')).toEqual([]);
    expect(parser.feed('tial\n')).toEqual([]);
    expect(parser.feed('\n')).toEqual([{ event: 'message', id: '', data: 'partial' }]);
  });
});
