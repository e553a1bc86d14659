import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import { encodeWord, encodeWords, foldLines, quoteString } from 'nodemailer/lib/mime-funcs';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';

/** A sender as parsed from SMTP_FROM: the envelope's address and the From header's value. */
export interface MailFrom {
  address: string;
  header: string;
}

/** What one email carries (the recipients are plain ASCII addresses: the channel's input checks them). */
export interface MimeParts {
  from: MailFrom;
  to: readonly string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  date: Date;
}

const ASCII = /^[\x20-\x7e]*$/;
/** A display name that can go out as an atom sequence, unquoted. */
const ATOMS = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$/;

/**
 * SMTP_FROM (`name <address>` or a bare address) as the envelope's address and the From header; undefined
 * when its address is not plain ASCII (such a sender is left to nodemailer's own composer, which knows
 * SMTPUTF8 and punycode).
 */
export function parseMailFrom(from: string): MailFrom | undefined {
  const [first] = addressparser(from, { flatten: true });
  const address = first?.address ?? '';
  if (!address || !ASCII.test(address) || /[\s<>]/.test(address)) return undefined;
  const name = (first?.name ?? '').trim();
  if (!name) return { address, header: address };
  const shown = !ASCII.test(name) ? encodeWord(name, 'Q', 52) : ATOMS.test(name) ? name : quoteString(name);
  return { address, header: `${shown} <${address}>` };
}

/** Text as quoted-printable lines with CRLF breaks (every line break of the text a CRLF). */
const qp = (text: string) => qpWrap(qpEncode(text.replace(/\r?\n/g, '\r\n')), 76);

/**
 * The whole message (RFC 5322, MIME multipart/alternative with a quoted-printable text and HTML part, UTF-8)
 * as one string, composed in one pass: what nodemailer's MIME tree would write for the same fields, without
 * building the tree and streaming it through its encoders chunk by chunk for every message (the largest
 * share of an email's CPU in the API, and one socket write per chunk).
 */
export function composeMime(parts: MimeParts): string {
  const boundary = `--_pairwatch_${randomBytes(12).toString('hex')}`;
  const header = (name: string, value: string) => foldLines(`${name}: ${value}`, 76);
  const lines = [
    header('From', parts.from.header),
    header('To', parts.to.join(', ')),
    header('Subject', encodeWords(parts.subject.replace(/[\r\n]+/g, ' '), 'Q', 52)),
    `Message-ID: ${parts.messageId}`,
    `Date: ${parts.date.toUTCString().replace(/GMT/, '+0000')}`,
    ...Object.entries(parts.headers).map(([name, value]) =>
      header(name, encodeWords(value.replace(/[\r\n]+/g, ' '), 'Q', 52)),
    ),
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp(parts.text),
    `--${boundary}`,
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qp(parts.html),
    `--${boundary}--`,
    '',
  ];
  return lines.join('\r\n');
}
