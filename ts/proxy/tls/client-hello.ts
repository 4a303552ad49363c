/**
 * Reads SNI and ALPN from a TLS ClientHello so a connection can be routed
 * (SNI passthrough, termination, ACME TLS-ALPN-01) before any TLS library
 * sees its bytes.
 *
 * The parser is stateless: the caller accumulates bytes and calls again on
 * 'incomplete', so each call re-reads from byte 0. Hellos are a few hundred
 * bytes, which keeps re-reading cheaper than carrying state between calls.
 * Reads go through buffer offsets; only the returned strings are sliced,
 * and a hello split across several records is copied into one buffer (rare).
 */

/**
 * The TLS alert a refused hello should get (RFC 8446 §6.2): decode_error
 * when a length or field cannot be read, handshake_failure when the bytes
 * parse but are not a hello this proxy will negotiate.
 */
export type HelloAlert = 'decode_error' | 'handshake_failure';

/** Result of {@link parseClientHello}. */
export type ClientHelloResult =
  | { kind: 'incomplete' }
  | { kind: 'not-tls' }
  | { kind: 'invalid'; reason: string; alert: HelloAlert }
  | { kind: 'ok'; serverName: string | undefined; alpnProtocols: string[]; consumed: number };

type Invalid = Extract<ClientHelloResult, { kind: 'invalid' }>;

/**
 * MAX_CLIENT_HELLO_BYTES is the most bytes, record headers included, that a
 * ClientHello may occupy: 64 KiB. Post-quantum key shares push hellos past
 * one 16 KiB record (nginx takes 20 KiB; OpenSSL's own limit is 128 KiB),
 * and the peek is still bounded by timeouts.clientHelloMs. The parser never
 * answers 'incomplete' for a buffer at least this long.
 */
export const MAX_CLIENT_HELLO_BYTES = 65536;

/**
 * MAX_RECORD_LENGTH is the largest record fragment accepted: 2^14 plus the
 * 256 bytes TLS allows for ciphertext expansion, so that odd clients are not
 * rejected on the record length alone.
 */
export const MAX_RECORD_LENGTH = 16384 + 256;

const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const RECORD_HEADER_LENGTH = 5;
const HANDSHAKE_HEADER_LENGTH = 4;
const RANDOM_LENGTH = 32;
const MAX_SESSION_ID_LENGTH = 32;
const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const NAME_TYPE_HOST_NAME = 0;
const MAX_HOST_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

// Shared because they carry no data; saves an allocation per partial read.
const INCOMPLETE: ClientHelloResult = Object.freeze({ kind: 'incomplete' });
const NOT_TLS: ClientHelloResult = Object.freeze({ kind: 'not-tls' });

/** looksLikeTls reports whether a connection's first byte opens a TLS handshake record. */
export function looksLikeTls(firstByte: number): boolean {
  return firstByte === CONTENT_TYPE_HANDSHAKE;
}

/**
 * parseClientHello reads the ClientHello at the start of `buffer`. It never
 * throws and never reads past a length it has checked. Bytes after the
 * records that carry the hello are ignored; `consumed` says where they start.
 */
export function parseClientHello(buffer: Buffer): ClientHelloResult {
  const span = scanRecords(buffer);
  if ('kind' in span) return span;
  if (span.records === 1) {
    // Common case: the whole message sits in the first record, read in place.
    const start = RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH;
    return parseBody(buffer, start, RECORD_HEADER_LENGTH + span.length, span.consumed);
  }
  const message = joinFragments(buffer, span.length);
  return parseBody(message, HANDSHAKE_HEADER_LENGTH, span.length, span.consumed);
}

/** Where the ClientHello handshake message lies in the record stream. */
interface HandshakeSpan {
  /** Length of the handshake message, its 4-byte header included. */
  length: number;
  /** Number of records that carry it. */
  records: number;
  /** Bytes from the start of the buffer to the end of its last record. */
  consumed: number;
}

/**
 * scanRecords walks the handshake records until they hold the whole
 * ClientHello. Headers are checked as soon as their bytes arrive, so junk is
 * rejected without waiting for a full record of it.
 */
function scanRecords(buf: Buffer): HandshakeSpan | ClientHelloResult {
  let pos = 0;
  let records = 0;
  let gathered = 0; // handshake bytes in complete records
  let headerSeen = 0; // bytes of the handshake header seen, partial records included
  let bodyLength = 0;
  for (;;) {
    if (pos + RECORD_HEADER_LENGTH > MAX_CLIENT_HELLO_BYTES) return tooLarge();
    const available = buf.length - pos;
    if (available < 1) return INCOMPLETE;
    const type = buf[pos]!;
    if (type !== CONTENT_TYPE_HANDSHAKE) {
      // Plain HTTP or an SSLv2 hello: the caller may route it elsewhere.
      if (pos === 0) return NOT_TLS;
      return invalid(`reading record ${records}: content type ${type} inside the client hello, expected 22`, 'handshake_failure');
    }
    if (available < 2) return INCOMPLETE;
    if (buf[pos + 1] !== 0x03) return invalid(`reading record ${records}: version major ${buf[pos + 1]} is not TLS`, 'handshake_failure');
    if (available < RECORD_HEADER_LENGTH) return INCOMPLETE;
    const length = buf.readUInt16BE(pos + 3);
    // Zero-length handshake fragments are forbidden (RFC 8446 §5.1).
    if (length === 0) return invalid(`reading record ${records}: empty handshake fragment`);
    if (length > MAX_RECORD_LENGTH) {
      return invalid(`reading record ${records}: length ${length} exceeds ${MAX_RECORD_LENGTH}`);
    }
    const fragmentStart = pos + RECORD_HEADER_LENGTH;
    const end = fragmentStart + length;
    if (end > MAX_CLIENT_HELLO_BYTES) return tooLarge();

    const stop = Math.min(end, buf.length);
    for (let i = fragmentStart; headerSeen < HANDSHAKE_HEADER_LENGTH && i < stop; i++, headerSeen++) {
      const b = buf[i]!;
      if (headerSeen > 0) bodyLength = (bodyLength << 8) | b;
      else if (b !== HANDSHAKE_CLIENT_HELLO) return invalid(`reading handshake: message type ${b} is not client_hello`, 'handshake_failure');
    }
    const messageLength = HANDSHAKE_HEADER_LENGTH + bodyLength;
    // The fewest records that can carry the message, each with its header, must still fit under the cap.
    if (headerSeen === HANDSHAKE_HEADER_LENGTH && messageLength + RECORD_HEADER_LENGTH * Math.ceil(messageLength / MAX_RECORD_LENGTH) > MAX_CLIENT_HELLO_BYTES) {
      return tooLarge();
    }
    if (buf.length < end) return INCOMPLETE;

    records++;
    gathered += length;
    pos = end;
    if (headerSeen === HANDSHAKE_HEADER_LENGTH && gathered >= messageLength) {
      return { length: messageLength, records, consumed: pos };
    }
  }
}

/** joinFragments copies a handshake message spread over several records into one buffer. */
function joinFragments(buf: Buffer, length: number): Buffer {
  const message = Buffer.allocUnsafe(length);
  let copied = 0;
  let pos = 0;
  while (copied < length) {
    const fragmentLength = buf.readUInt16BE(pos + 3);
    const start = pos + RECORD_HEADER_LENGTH;
    const take = Math.min(fragmentLength, length - copied);
    copied += buf.copy(message, copied, start, start + take);
    pos = start + fragmentLength;
  }
  return message;
}

/** parseBody reads the ClientHello body in buf[start, end). */
function parseBody(buf: Buffer, start: number, end: number, consumed: number): ClientHelloResult {
  let p = start;
  if (end - p < 2 + RANDOM_LENGTH + 1) return invalid('reading client hello: truncated before the session id');
  // TLS 1.3 keeps legacy_version at 0x0303; anything not 0x03xx is not TLS.
  if (buf[p] !== 0x03) return invalid(`reading client hello: version major ${buf[p]} is not TLS`, 'handshake_failure');
  p += 2 + RANDOM_LENGTH;

  const sessionIdLength = buf[p]!;
  if (sessionIdLength > MAX_SESSION_ID_LENGTH) {
    return invalid(`reading session id: length ${sessionIdLength} exceeds ${MAX_SESSION_ID_LENGTH}`);
  }
  p += 1 + sessionIdLength;

  if (p + 2 > end) return invalid('reading cipher suites: truncated');
  const suitesLength = buf.readUInt16BE(p);
  if (suitesLength === 0 || suitesLength % 2 !== 0) {
    return invalid(`reading cipher suites: length ${suitesLength} is not a positive even number`);
  }
  p += 2 + suitesLength;

  if (p + 1 > end) return invalid('reading compression methods: truncated');
  const compressionLength = buf[p]!;
  if (compressionLength === 0) return invalid('reading compression methods: empty list');
  p += 1 + compressionLength;
  if (p > end) return invalid('reading compression methods: truncated');

  // Extensions are optional for pre-TLS 1.2 clients: no SNI, no ALPN.
  if (p === end) return { kind: 'ok', serverName: undefined, alpnProtocols: [], consumed };
  if (p + 2 > end) return invalid('reading extensions: truncated length');
  const extensionsLength = buf.readUInt16BE(p);
  p += 2;
  if (p + extensionsLength !== end) {
    return invalid(`reading extensions: length ${extensionsLength} does not match the ${end - p} bytes left`);
  }
  return parseExtensions(buf, p, end, consumed);
}

/** parseExtensions walks the extension block in buf[start, end), keeping server_name and ALPN. */
function parseExtensions(buf: Buffer, start: number, end: number, consumed: number): ClientHelloResult {
  let serverName: string | undefined;
  let alpnProtocols: string[] = [];
  // A duplicate could be read one way here and another way by the backend.
  let sawServerName = false;
  let sawAlpn = false;
  let p = start;
  while (p < end) {
    if (p + 4 > end) return invalid('reading extensions: truncated extension header');
    const type = buf.readUInt16BE(p);
    const dataStart = p + 4;
    const dataEnd = dataStart + buf.readUInt16BE(p + 2);
    if (dataEnd > end) return invalid(`reading extension ${type}: length runs past the extension block`);
    if (type === EXTENSION_SERVER_NAME) {
      if (sawServerName) return invalid('reading server_name: extension sent twice');
      sawServerName = true;
      const name = readServerName(buf, dataStart, dataEnd);
      if (typeof name === 'object') return name;
      serverName = name;
    } else if (type === EXTENSION_ALPN) {
      if (sawAlpn) return invalid('reading alpn: extension sent twice');
      sawAlpn = true;
      const protocols = readAlpn(buf, dataStart, dataEnd);
      if (!Array.isArray(protocols)) return protocols;
      alpnProtocols = protocols;
    }
    p = dataEnd;
  }
  return { kind: 'ok', serverName, alpnProtocols, consumed };
}

/**
 * readServerName reads a server_name extension body. Only a list holding one
 * host_name entry is accepted: OpenSSL reads just the first entry and only
 * as host_name, and a list a backend would read differently is a way to
 * route a connection somewhere it was not meant to go.
 */
function readServerName(buf: Buffer, start: number, end: number): string | Invalid {
  if (end - start < 2) return invalid('reading server_name: truncated list length');
  const listLength = buf.readUInt16BE(start);
  const p = start + 2;
  if (listLength === 0) return invalid('reading server_name: empty list');
  if (p + listLength !== end) {
    return invalid(`reading server_name: list length ${listLength} does not match the ${end - p} bytes left`);
  }
  if (p + 3 > end) return invalid('reading server_name: truncated entry');
  const nameType = buf[p]!;
  if (nameType !== NAME_TYPE_HOST_NAME) return invalid(`reading server_name: name type ${nameType} is not host_name`);
  const nameStart = p + 3;
  const nameEnd = nameStart + buf.readUInt16BE(p + 1);
  if (nameEnd !== end) return invalid('reading server_name: entry length does not match the list length');
  return readHostName(buf, nameStart, nameEnd);
}

/**
 * readHostName validates buf[start, end) as a DNS host name and returns it
 * lower-cased. Allowed bytes are letters, digits, '-', '_' and '.'; labels
 * are 1–63 bytes, so a leading or doubled dot is rejected. One trailing dot
 * (the absolute form RFC 6066 forbids but curl and browsers send for
 * `https://a.test./`) names the same host, so it is dropped, as it is from
 * the Host header (normaliseHostname).
 */
function readHostName(buf: Buffer, start: number, fullEnd: number): string | Invalid {
  const end = fullEnd - start > 1 && buf[fullEnd - 1] === 0x2e ? fullEnd - 1 : fullEnd;
  const length = end - start;
  if (length === 0) return invalid('reading server_name: empty host name');
  if (length > MAX_HOST_NAME_LENGTH) {
    return invalid(`reading server_name: host name length ${length} exceeds ${MAX_HOST_NAME_LENGTH}`);
  }
  let labelLength = 0;
  let hasUpper = false;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x2e) {
      if (labelLength === 0) return invalid('reading server_name: host name has an empty label');
      labelLength = 0;
      continue;
    }
    if (c >= 0x41 && c <= 0x5a) hasUpper = true;
    else if (!isLowerHostByte(c)) {
      return invalid(`reading server_name: host name has byte 0x${c.toString(16).padStart(2, '0')}`);
    }
    if (++labelLength > MAX_LABEL_LENGTH) {
      return invalid(`reading server_name: host name has a label longer than ${MAX_LABEL_LENGTH}`);
    }
  }
  if (labelLength === 0) return invalid('reading server_name: host name has an empty label');
  // latin1 maps each byte to one char: no decoding work on validated ASCII.
  const name = buf.toString('latin1', start, end);
  return hasUpper ? name.toLowerCase() : name;
}

/** isLowerHostByte reports whether c is one of [a-z0-9_-]. */
function isLowerHostByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
}

/**
 * readAlpn reads an ALPN extension body (RFC 7301 §3.1). Names are opaque
 * bytes; latin1 keeps one char per byte so no name is altered by decoding.
 */
function readAlpn(buf: Buffer, start: number, end: number): string[] | Invalid {
  if (end - start < 2) return invalid('reading alpn: truncated list length');
  const listLength = buf.readUInt16BE(start);
  let p = start + 2;
  if (listLength === 0) return invalid('reading alpn: empty list');
  if (p + listLength !== end) {
    return invalid(`reading alpn: list length ${listLength} does not match the ${end - p} bytes left`);
  }
  const protocols: string[] = [];
  while (p < end) {
    const nameLength = buf[p]!;
    if (nameLength === 0) return invalid('reading alpn: empty protocol name');
    const nameStart = p + 1;
    p = nameStart + nameLength;
    if (p > end) return invalid('reading alpn: protocol name runs past the list');
    protocols.push(buf.toString('latin1', nameStart, p));
  }
  return protocols;
}

function invalid(reason: string, alert: HelloAlert = 'decode_error'): Invalid {
  return { kind: 'invalid', reason, alert };
}

function tooLarge(): Invalid {
  return invalid(`reading records: client hello exceeds ${MAX_CLIENT_HELLO_BYTES} bytes`, 'handshake_failure');
}
