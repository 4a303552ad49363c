import { createSocket, type RemoteInfo } from 'node:dgram';

/** DnsResponder is a running UDP DNS server; close() releases its socket. */
export interface DnsResponder {
  port: number;
  close(): Promise<void>;
}

export interface DnsResponderOptions {
  /** Address to listen on. Default: 127.0.0.1. */
  host?: string;
  /** IPv4 address every A query resolves to. Default: 127.0.0.1. */
  ipv4?: string;
}

const TYPE_A = 1;
const CLASS_IN = 1;
const HEADER_LENGTH = 12;

/**
 * startDnsResponder answers every A query with one address and every other query
 * (AAAA, CAA, …) with NOERROR and no records, so a validator such as pebble resolves
 * any test name to loopback over IPv4 only and never dials [::1].
 */
export async function startDnsResponder(opts: DnsResponderOptions = {}): Promise<DnsResponder> {
  const { host = '127.0.0.1', ipv4 = '127.0.0.1' } = opts;
  const address = Buffer.from(ipv4.split('.').map(Number));
  const socket = createSocket('udp4');
  socket.on('message', (query: Buffer, peer: RemoteInfo) => {
    const reply = buildReply(query, address);
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A late send error (peer gone) must not crash the test process.
  socket.on('error', () => {});
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

// Returns undefined for anything that is not a single-question query; a test
// validator never sends those, and staying silent is what a real server may do.
function buildReply(query: Buffer, address: Buffer): Buffer | undefined {
  if (query.length < HEADER_LENGTH || (query[2] ?? 0) & 0x80 || query.readUInt16BE(4) !== 1) return undefined;
  const questionEnd = skipName(query, HEADER_LENGTH);
  if (questionEnd === undefined || questionEnd + 4 > query.length) return undefined;
  const qtype = query.readUInt16BE(questionEnd);
  const qclass = query.readUInt16BE(questionEnd + 2);
  const question = query.subarray(HEADER_LENGTH, questionEnd + 4);
  const answer = qtype === TYPE_A && qclass === CLASS_IN ? answerA(address) : Buffer.alloc(0);

  const header = Buffer.alloc(HEADER_LENGTH);
  query.copy(header, 0, 0, 2); // id
  // QR=1, opcode and RD copied from the query, AA=1, RA=1, RCODE=0 (NOERROR).
  header[2] = 0x80 | ((query[2] ?? 0) & 0x79) | 0x04;
  header[3] = 0x80;
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(answer.length > 0 ? 1 : 0, 6); // ANCOUNT
  return Buffer.concat([header, question, answer]);
}

function answerA(address: Buffer): Buffer {
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc000 | HEADER_LENGTH, 0); // name: pointer to the question's name
  record.writeUInt16BE(TYPE_A, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(0, 6); // TTL 0: tests may change the mapping between runs
  record.writeUInt16BE(address.length, 10);
  return Buffer.concat([record, address]);
}

// Questions carry uncompressed names: a run of length-prefixed labels ending in 0.
function skipName(message: Buffer, offset: number): number | undefined {
  let at = offset;
  while (at < message.length) {
    const length = message[at] ?? 0;
    if (length === 0) return at + 1;
    if (length & 0xc0) return undefined;
    at += 1 + length;
  }
  return undefined;
}
