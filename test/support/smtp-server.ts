import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './faults/util';

/**
 * A real SMTP peer for the email channel's suites (nodemailer's smtp-server): STARTTLS offered (its built-in
 * test certificate), AUTH required, each message read whole and parsed with mailparser as a mail server would
 * store it. Listens on 127.0.0.1 at a free port; `stop()` then `start()` again refuses connections in between.
 */
export class TestSmtpServer {
  readonly messages: ParsedMail[] = [];
  /** Sessions that reached TLS before they sent a message. */
  readonly secureSessions: boolean[] = [];
  /** Sessions connected now, and logins accepted so far. */
  openSessions = 0;
  logins = 0;
  port = 0;
  readonly user = 'pairwatch';
  readonly password = 'smtp-test-password-7f3a';
  private server: SMTPServer | undefined;

  /** SMTP_URL for this server (STARTTLS against a self-signed certificate, AUTH with the test user). */
  get url(): string {
    return `smtp://${this.user}:${this.password}@127.0.0.1:${this.port}?tls.rejectUnauthorized=false`;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    const server = new SMTPServer({
      secure: false,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      // stop() is the server going away: the sessions a client keeps open are told 421 and closed after half a
      // second (smtp-server's default waits 30 s for them to leave by themselves).
      closeTimeout: 500,
      onConnect: (_session, callback) => {
        this.openSessions += 1;
        callback();
      },
      onClose: () => {
        this.openSessions -= 1;
      },
      onAuth: (auth, _session, callback) => {
        if (auth.username === this.user && auth.password === this.password) {
          this.logins += 1;
          callback(null, { user: auth.username });
        } else callback(new Error('Invalid username or password'));
      },
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((mail) => {
            this.messages.push(mail);
            this.secureSessions.push(session.secure);
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.listen(this.port, '127.0.0.1', () => resolve());
      server.server.once('error', reject);
    });
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
