/**
 * PROXY protocol headers (haproxy's proxy-protocol.txt), v1 (text) and v2
 * (binary): parsed strictly from the first bytes of a connection, with
 * caps, and built for upstreams. Parsing is restartable: call it again
 * with more bytes until it is not `incomplete`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ProxiedAddress } from './client-address.js';

/** The 12-byte v2 signature. */
export const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const v1Prefix = Buffer.from('PROXY ', 'latin1');
/** Longest v1 line, CRLF included (the spec's own bound). */
const v1MaxBytes = 107;
/** Longest v2 address block (addresses and TLVs) accepted. Default: 1024 bytes; the spec's addresses take at most 216. */
const v2MaxBlock = 1024;

export type ParseResult =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /** `address` is undefined for v1 UNKNOWN and v2 LOCAL: the peer's own address stands. */
  | { kind: 'ok'; size: number; address: ProxiedAddress | undefined };

const incomplete: ParseResult = { kind: 'incomplete' };

/** Whether `buf` starts like a PROXY header of either version (as far as it goes). */
export function startsLikeProxyHeader(buf: Buffer): boolean {
  const n = Math.min(buf.length, 6);
  if (n === 0) return false;
  return buf.subarray(0, n).equals(v1Prefix.subarray(0, n)) || buf.subarray(0, Math.min(buf.length, 12)).equals(v2Signature.subarray(0, Math.min(buf.length, 12)));
}

export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return incomplete;
  if (buf[0] === 0x50) return parseV1(buf);
  if (buf[0] === 0x0d) return parseV2(buf);
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

function parseV1(buf: Buffer): ParseResult {
  const prefix = Math.min(buf.length, v1Prefix.length);
  if (!buf.subarray(0, prefix).equals(v1Prefix.subarray(0, prefix))) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return buf.length >= v1MaxBytes ? { kind: 'invalid', reason: 'v1 header longer than 107 bytes' } : incomplete;
  if (end + 2 > v1MaxBytes) return { kind: 'invalid', reason: 'v1 header longer than 107 bytes' };
  const parts = buf.toString('latin1', 6, end).split(' ');
  const size = end + 2;
  if (parts[0] === 'UNKNOWN') return { kind: 'ok', size, address: undefined };
  if (parts.length !== 5) return { kind: 'invalid', reason: 'v1 header needs protocol, two addresses and two ports' };
  const [family, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const check = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (check === undefined) return { kind: 'invalid', reason: `v1 protocol ${family} is not TCP4, TCP6 or UNKNOWN` };
  if (!check(src) || !check(dst)) return { kind: 'invalid', reason: 'v1 address does not match its protocol' };
  const clientPort = v1Port(sport);
  const destPort = v1Port(dport);
  if (clientPort === undefined || destPort === undefined) return { kind: 'invalid', reason: 'v1 port is not 0-65535 without leading zeros' };
  return { kind: 'ok', size, address: { clientIp: src, clientPort, destIp: dst, destPort } };
}

function v1Port(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV2(buf: Buffer): ParseResult {
  const prefix = Math.min(buf.length, 12);
  if (!buf.subarray(0, prefix).equals(v2Signature.subarray(0, prefix))) return { kind: 'invalid', reason: 'no PROXY protocol header' };
  if (buf.length < 16) return incomplete;
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'v2 header with a version other than 2' };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: 'v2 command is neither LOCAL nor PROXY' };
  const length = buf.readUInt16BE(14);
  if (length > v2MaxBlock) return { kind: 'invalid', reason: `v2 address block over ${v2MaxBlock} bytes` };
  const size = 16 + length;
  if (buf.length < size) return incomplete;
  // LOCAL: the balancer's own connection (a health check); the peer's address stands.
  if (command === 0) return { kind: 'ok', size, address: undefined };
  const family = buf[13]!;
  if (family === 0x11) {
    if (length < 12) return { kind: 'invalid', reason: 'v2 TCP4 block shorter than 12 bytes' };
    return { kind: 'ok', size, address: { clientIp: ipv4(buf, 16), destIp: ipv4(buf, 20), clientPort: buf.readUInt16BE(24), destPort: buf.readUInt16BE(26) } };
  }
  if (family === 0x21) {
    if (length < 36) return { kind: 'invalid', reason: 'v2 TCP6 block shorter than 36 bytes' };
    return { kind: 'ok', size, address: { clientIp: ipv6(buf, 16), destIp: ipv6(buf, 32), clientPort: buf.readUInt16BE(48), destPort: buf.readUInt16BE(50) } };
  }
  // UNSPEC, UDP and unix sockets carry no TCP client address: the peer's stands.
  if ((family & 0xf0) === 0x00 || (family & 0x0f) !== 0x01) return { kind: 'ok', size, address: undefined };
  return { kind: 'invalid', reason: 'v2 address family unknown' };
}

function ipv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  const text = groups.join(':');
  // ::ffff:a.b.c.d is an IPv4 client; the rest of the proxy speaks of it as a.b.c.d.
  return text.startsWith('0:0:0:0:0:ffff:') ? ipv4(buf, at + 12) : compressIpv6(text);
}

function compressIpv6(text: string): string {
  const match = /(^|:)0(:0)+(:|$)/.exec(text);
  if (match === null) return text;
  return `${text.slice(0, match.index)}::${text.slice(match.index + match[0].length)}`;
}

/** A header describing `ends` in `version`; a family mismatch (v4 client, v6 destination) is sent as v4-mapped v6. */
export function buildProxyHeader(version: 'v1' | 'v2', ends: ProxiedAddress): Buffer {
  const v4 = isIPv4(ends.clientIp) && isIPv4(ends.destIp);
  const src = v4 ? ends.clientIp : toV6(ends.clientIp);
  const dst = v4 ? ends.destIp : toV6(ends.destIp);
  if (version === 'v1') return Buffer.from(`PROXY ${v4 ? 'TCP4' : 'TCP6'} ${src} ${dst} ${ends.clientPort} ${ends.destPort}\r\n`, 'latin1');
  const block = v4 ? 12 : 36;
  const out = Buffer.alloc(16 + block);
  v2Signature.copy(out, 0);
  out[12] = 0x21;
  out[13] = v4 ? 0x11 : 0x21;
  out.writeUInt16BE(block, 14);
  if (v4) {
    writeV4(out, 16, src);
    writeV4(out, 20, dst);
    out.writeUInt16BE(ends.clientPort, 24);
    out.writeUInt16BE(ends.destPort, 26);
  } else {
    writeV6(out, 16, src);
    writeV6(out, 32, dst);
    out.writeUInt16BE(ends.clientPort, 48);
    out.writeUInt16BE(ends.destPort, 50);
  }
  return out;
}

function toV6(ip: string): string {
  return isIPv4(ip) ? `::ffff:${ip}` : ip;
}

function writeV4(out: Buffer, at: number, ip: string): void {
  ip.split('.').forEach((part, i) => (out[at + i] = Number(part)));
}

function writeV6(out: Buffer, at: number, ip: string): void {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), at + i * 2));
}
