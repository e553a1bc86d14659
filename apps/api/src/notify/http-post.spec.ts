import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeptAliveAgents, postOnce } from './http-post';
import { WEBHOOK_LIMITS } from './webhook-events';

describe('postOnce', () => {
  let server: Server;
  let url: URL;
  const agents = new KeptAliveAgents();
  let answer = '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  afterAll(async () => {
    agents.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (keepAnswer: boolean) =>
    postOnce(url, { agents, headers: {}, body: '{}', timeoutMs: 5000, keepAnswer });

  it('keeps the answer when asked, and only counts its bytes otherwise', async () => {
    answer = '{"ok":true,"result":{"message_id":1}}';
    expect(await post(true)).toMatchObject({ status: 200, error: null, answer, bytesRead: answer.length });
    expect(await post(false)).not.toHaveProperty('answer');
  });

  it('keeps at most maxAnswerBytes of a longer answer and says the rest was not read', async () => {
    answer = 'x'.repeat(WEBHOOK_LIMITS.maxAnswerBytes * 2);
    const outcome = await post(true);
    expect(outcome.status).toBe(200);
    expect(outcome.error).toMatch(/longer than 64 KB/);
    expect(outcome.answer).toHaveLength(WEBHOOK_LIMITS.maxAnswerBytes);
    expect(outcome.bytesRead).toBe(WEBHOOK_LIMITS.maxAnswerBytes);
  });

  it('resolves with no status and the reason when nothing answers', async () => {
    // A port that was just listening and is closed now.
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const closed = new URL(`http://127.0.0.1:${(gone.address() as AddressInfo).port}/`);
    await new Promise((resolve) => gone.close(resolve));
    const outcome = await postOnce(closed, { agents, headers: {}, body: '{}', timeoutMs: 5000 });
    expect(outcome).toMatchObject({ status: null, bytesRead: 0 });
    expect(outcome.error).toMatch(/ECONNREFUSED/);
  });
});
