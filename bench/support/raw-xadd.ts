import { connect } from 'node:net';

/** One command in Redis' wire format (RESP): an array of bulk strings. */
function encode(args: readonly string[]): string {
  let text = `*${args.length}\r\n`;
  for (const arg of args) text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return text;
}

/** XADD commands in Redis' wire format, made before the clock starts: what is left to do is writing them. */
export interface EncodedXadds {
  chunks: Buffer[];
  count: number;
}

/** `XADD stream * field payload` for every payload, encoded up front, `chunk` commands to a buffer. */
export function encodeXadds(
  stream: string,
  field: string,
  payloads: readonly string[],
  chunk = 1000,
): EncodedXadds {
  const chunks: Buffer[] = [];
  for (let i = 0; i < payloads.length; i += chunk) {
    let text = '';
    for (const payload of payloads.slice(i, i + chunk)) text += encode(['XADD', stream, '*', field, payload]);
    chunks.push(Buffer.from(text));
  }
  return { chunks, count: payloads.length };
}

/**
 * Writes encoded commands ({@link encodeXadds}) on a socket of its own and reads and checks the replies. The
 * load generator of a burst: it stands in for the many workers (their own processes, elsewhere) that publish
 * alerts, so it takes as little of this machine's CPU from the path measured as it can (ioredis spends ~10 µs
 * a command; this well under 1). Resolves once Redis has answered every command; rejects on the first error
 * reply.
 */
export async function sendXadds(redisUrl: string, xadds: EncodedXadds): Promise<void> {
  const url = new URL(redisUrl);
  const db = url.pathname.slice(1) || '0';
  const socket = connect(Number(url.port || 6379), url.hostname);
  socket.setNoDelay(true);
  const expected = xadds.count + 1;
  let answered = 0;
  let pending = '';
  const done = new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      let at = 0;
      for (;;) {
        const end = pending.indexOf('\r\n', at);
        if (end < 0) break;
        const kind = pending[at];
        if (kind === '-') return reject(new Error(`Redis: ${pending.slice(at + 1, end)}`));
        if (kind === '$') {
          const length = Number(pending.slice(at + 1, end));
          const next = end + 2 + Math.max(length, 0) + (length >= 0 ? 2 : 0);
          if (next > pending.length) break;
          at = next;
        } else {
          at = end + 2;
        }
        answered += 1;
      }
      pending = pending.slice(at);
      if (answered >= expected) resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(encode(['SELECT', db]));
  for (const chunk of xadds.chunks) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  try {
    await done;
  } finally {
    socket.destroy();
  }
}
