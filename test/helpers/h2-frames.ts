/**
 * Raw HTTP/2 over TLS, for clients that misbehave on purpose (rapid reset,
 * CONTINUATION floods), which Node's own client refuses to be. Header
 * blocks are HPACK literals without indexing or Huffman coding: every
 * decoder must accept them.
 */
import tls from 'node:tls';

export const frameType = { data: 0, headers: 1, rstStream: 3, settings: 4, ping: 6, goaway: 7, windowUpdate: 8, continuation: 9 } as const;
export const flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByte = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInt(bytes.length, 7), bytes]);
}

/** A header block of literal fields without indexing (RFC 7541 §6.2.2), new names. */
export function headerBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
}

export function rstStream(streamId: number, code = 8 /* CANCEL */): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(frameType.rstStream, 0, streamId, payload);
}

export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A raw HTTP/2 connection: the frames the server sent, as they arrive. */
export interface RawH2 {
  socket: tls.TLSSocket;
  /** Every frame received so far: type, flags, stream and payload. */
  frames: { type: number; flags: number; streamId: number; payload: Buffer }[];
  /** The GOAWAY error code once one arrived. */
  goawayCode(): number | undefined;
  closed: Promise<void>;
  send(bytes: Buffer): boolean;
}

/** Connects with ALPN h2, sends the preface and an empty SETTINGS, and acknowledges the server's. */
export async function connectRawH2(port: number, servername: string): Promise<RawH2> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(socket.alpnProtocol)}, not h2`);
  const frames: RawH2['frames'] = [];
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const received = { type: buffered[3]!, flags: buffered[4]!, streamId: buffered.readUInt32BE(5) & 0x7fffffff, payload: buffered.subarray(9, 9 + length) };
      frames.push(received);
      if (received.type === frameType.settings && (received.flags & flag.ack) === 0) socket.write(frame(frameType.settings, flag.ack, 0));
      buffered = buffered.subarray(9 + length);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([preface, frame(frameType.settings, 0, 0)]));
  return {
    socket,
    frames,
    closed,
    goawayCode() {
      const goaway = frames.find((f) => f.type === frameType.goaway);
      return goaway === undefined ? undefined : goaway.payload.readUInt32BE(4);
    },
    send: (bytes) => socket.write(bytes),
  };
}

/** A GET request's HEADERS frame (END_HEADERS | END_STREAM). */
export function getRequest(streamId: number, authority: string, path = '/', extra: [string, string][] = []): Buffer {
  const block = headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', authority], [':path', path], ...extra]);
  return frame(frameType.headers, flag.endHeaders | flag.endStream, streamId, block);
}
