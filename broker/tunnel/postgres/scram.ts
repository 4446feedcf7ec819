// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, for the broker's
// own login with a stored credential (login.ts). PostgreSQL ignores the SCRAM user name (the
// StartupMessage names the role), so the client-first message says `n=*` as node-postgres does.
//
// Over TLS to the database (`targetTls`) the broker binds the exchange to the server's certificate
// (SCRAM-SHA-256-PLUS with tls-server-end-point, channel-binding.ts) when the server offers it, so
// the login cannot be relayed by someone in the middle of that TLS. Without TLS (or a certificate
// whose hash it cannot tell) it sends the gs2 flag `n` ("client does not bind"), which a server
// accepts; a server that then offers only SCRAM-SHA-256-PLUS is refused with that reason.
//
// The password is prepared as node-postgres and libpq do (SASLprep's mapping steps and NFKC),
// so a role whose password has non-ASCII characters logs in as it does with psql.

import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';
/**
 * Most PBKDF2 iterations the broker computes for a server (PostgreSQL's default is 4096): the
 * broker runs this for every tunnel, so a server asking for millions must not stall it. node-postgres's cap.
 */
export const MAX_SCRAM_ITERATIONS = 100_000;
/** Bytes of client nonce (node-postgres and libpq use 18: 24 base64 characters). */
const NONCE_BYTES = 18;
const KEY_BYTES = 32;
/** The gs2 header without channel binding ("the client does not bind"). */
const GS2_HEADER = 'n,,';

const pbkdf2Async = promisify(pbkdf2);

/** Channel binding data (tls-server-end-point: the hash of the server's certificate). */
export interface ChannelBinding {
  type: 'tls-server-end-point';
  data: Buffer;
}

/** A SCRAM exchange that has sent its first message. */
export interface ScramStart {
  /** The gs2 header ("n,," or "p=tls-server-end-point,,"), repeated in the final message with the binding data. */
  gs2Header: string;
  binding: ChannelBinding | null;
  clientNonce: string;
  clientFirstBare: string;
  /** The SASLInitialResponse data: gs2 header + client-first-message-bare. */
  clientFirst: string;
}

/** After the server's first message: the proof to send and the signature the server must answer with. */
export interface ScramContinue {
  clientFinal: string;
  /** base64 ServerSignature the server-final message must carry. */
  expectedServerSignature: string;
}

/** A SCRAM exchange the server broke (a bad message, a wrong signature): the reason, for the audit and the user. */
export class ScramError extends Error {
  override readonly name = 'ScramError';
}

/** The mechanism the broker uses from what the server offers (PLUS when it can bind), or why none of them is usable. */
export function chooseMechanism(offered: readonly string[], canBind: boolean): { mechanism: string } | { problem: string } {
  if (canBind && offered.includes(SCRAM_SHA_256_PLUS)) return { mechanism: SCRAM_SHA_256_PLUS };
  if (offered.includes(SCRAM_SHA_256)) return { mechanism: SCRAM_SHA_256 };
  if (offered.includes(SCRAM_SHA_256_PLUS)) {
    return {
      problem: `the database offers only ${SCRAM_SHA_256_PLUS} (channel binding), which needs TLS to the database with a certificate signed with RSA or ECDSA; set targetTls on the resource, or allow ${SCRAM_SHA_256}`,
    };
  }
  return { problem: `the database offers SASL mechanisms the broker does not speak (${offered.join(', ') || 'none'}); allow ${SCRAM_SHA_256} for this user` };
}

/**
 * Starts an exchange, bound to `binding` when given (SCRAM-SHA-256-PLUS). `user` is `*` for
 * PostgreSQL, which reads the role from the StartupMessage; RFC 7677's example names one.
 */
export function scramStart(binding: ChannelBinding | null = null, clientNonce: string = randomBytes(NONCE_BYTES).toString('base64'), user = '*'): ScramStart {
  const gs2Header = binding ? `p=${binding.type},,` : GS2_HEADER;
  const clientFirstBare = `n=${user},r=${clientNonce}`;
  return { gs2Header, binding, clientNonce, clientFirstBare, clientFirst: `${gs2Header}${clientFirstBare}` };
}

/** Answers the server-first message with the client proof. Rejects with a ScramError on a message that breaks the protocol. */
export async function scramContinue(start: ScramStart, password: string, serverFirst: string): Promise<ScramContinue> {
  const attributes = parseAttributes(serverFirst, 'server-first message');
  const nonce = attributes.get('r');
  const salt = attributes.get('s');
  const iterationText = attributes.get('i');
  if (!nonce || !salt || !iterationText) throw new ScramError('the server-first message lacks its nonce, salt or iteration count');
  if (!nonce.startsWith(start.clientNonce) || nonce.length === start.clientNonce.length) {
    throw new ScramError("the server's nonce does not extend the broker's");
  }
  if (!/^[1-9][0-9]{0,9}$/.test(iterationText)) throw new ScramError(`the iteration count ${JSON.stringify(iterationText.slice(0, 20))} is not a number`);
  const iterations = Number(iterationText);
  if (iterations > MAX_SCRAM_ITERATIONS) {
    throw new ScramError(`the server asks for ${iterations} PBKDF2 iterations, more than the ${MAX_SCRAM_ITERATIONS} the broker computes`);
  }
  // c= is the gs2 header and, when bound, the binding data (RFC 5802 section 7).
  const channel = Buffer.concat([Buffer.from(start.gs2Header), start.binding?.data ?? Buffer.alloc(0)]);
  const clientFinalWithoutProof = `c=${channel.toString('base64')},r=${nonce}`;
  const authMessage = `${start.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
  const saltedPassword = await pbkdf2Async(saslPrep(password), Buffer.from(salt, 'base64'), iterations, KEY_BYTES, 'sha256');
  const clientKey = hmac(saltedPassword, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const clientSignature = hmac(storedKey, authMessage);
  const proof = Buffer.alloc(KEY_BYTES);
  for (let i = 0; i < KEY_BYTES; i++) proof[i] = (clientKey[i] as number) ^ (clientSignature[i] as number);
  const serverSignature = hmac(hmac(saltedPassword, 'Server Key'), authMessage);
  return { clientFinal: `${clientFinalWithoutProof},p=${proof.toString('base64')}`, expectedServerSignature: serverSignature.toString('base64') };
}

/** Checks the server-final message: the server proves it knew the password too (else it is not the database). */
export function scramFinish(step: ScramContinue, serverFinal: string): void {
  const attributes = parseAttributes(serverFinal, 'server-final message');
  const error = attributes.get('e');
  if (error !== undefined) throw new ScramError(`the server ended the exchange: ${error}`);
  const signature = attributes.get('v');
  if (signature === undefined) throw new ScramError('the server-final message carries no signature');
  const got = Buffer.from(signature, 'base64');
  const expected = Buffer.from(step.expectedServerSignature, 'base64');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new ScramError("the server's signature is wrong: it does not hold this user's password (is this the right database?)");
  }
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

/** `a=1,b=2` into a map; the value may contain '='. */
function parseAttributes(text: string, what: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of text.split(',')) {
    if (!/^[A-Za-z]=/.test(part)) throw new ScramError(`the ${what} is malformed`);
    attributes.set(part[0] as string, part.slice(2));
  }
  return attributes;
}

// RFC 3454 table C.1.2 (non-ASCII spaces, mapped to a space) and table B.1 (mapped to nothing).
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// biome-ignore lint/suspicious/noMisleadingCharacterClass: RFC 3454 B.1 lists joiners and variation selectors, which SASLprep removes one by one
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B\u180C\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;

/** SASLprep's mapping and normalization (RFC 4013), as libpq and node-postgres apply it. */
export function saslPrep(password: string): string {
  return password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
}
