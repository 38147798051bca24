// SHA-256 of a string's UTF-8 bytes, reduced modulo 10000, with no allocation per call.
// Why not node:crypto: each crypto call crosses into C++ and allocates a Hash/Buffer, which costs
// several times more than hashing the one or two 64-byte blocks a "key:user" input needs.
// Why a HashPrefix: evaluation hashes "<flag key>:<user>"; encoding the flag's part once per flag
// (and compressing its whole 64-byte blocks once) leaves only the user's bytes per call, without
// building the concatenated string. Verified against node:crypto and Python's hashlib by the unit
// tests.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const encoder = new TextEncoder();
let buf = new Uint8Array(256);
let view = new DataView(buf.buffer);
const W = new Int32Array(64);
const H = new Int32Array(8);

function compress(block: DataView, offset: number): void {
  for (let i = 0; i < 16; i++) W[i] = block.getInt32(offset + i * 4);
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15] as number;
    const w2 = W[i - 2] as number;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = ((W[i - 16] as number) + s0 + (W[i - 7] as number) + s1) | 0;
  }
  let a = H[0] as number;
  let b = H[1] as number;
  let c = H[2] as number;
  let d = H[3] as number;
  let e = H[4] as number;
  let f = H[5] as number;
  let g = H[6] as number;
  let h = H[7] as number;
  // Eight rounds per iteration with the working variables renamed instead of shifted.
  for (let i = 0; i < 64; i += 8) {
    h =
      (h +
        (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) +
        (K[i] as number) +
        (W[i] as number)) |
      0;
    d = (d + h) | 0;
    h =
      (h +
        (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) ^ (a & c) ^ (b & c))) |
      0;
    g =
      (g +
        (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
        ((d & e) ^ (~d & f)) +
        (K[i + 1] as number) +
        (W[i + 1] as number)) |
      0;
    c = (c + g) | 0;
    g =
      (g +
        (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) ^ (h & b) ^ (a & b))) |
      0;
    f =
      (f +
        (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
        ((c & d) ^ (~c & e)) +
        (K[i + 2] as number) +
        (W[i + 2] as number)) |
      0;
    b = (b + f) | 0;
    f =
      (f +
        (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) ^ (g & a) ^ (h & a))) |
      0;
    e =
      (e +
        (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
        ((b & c) ^ (~b & d)) +
        (K[i + 3] as number) +
        (W[i + 3] as number)) |
      0;
    a = (a + e) | 0;
    e =
      (e +
        (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) ^ (f & h) ^ (g & h))) |
      0;
    d =
      (d +
        (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
        ((a & b) ^ (~a & c)) +
        (K[i + 4] as number) +
        (W[i + 4] as number)) |
      0;
    h = (h + d) | 0;
    d =
      (d +
        (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) ^ (e & g) ^ (f & g))) |
      0;
    c =
      (c +
        (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
        ((h & a) ^ (~h & b)) +
        (K[i + 5] as number) +
        (W[i + 5] as number)) |
      0;
    g = (g + c) | 0;
    c =
      (c +
        (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) ^ (d & f) ^ (e & f))) |
      0;
    b =
      (b +
        (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
        ((g & h) ^ (~g & a)) +
        (K[i + 6] as number) +
        (W[i + 6] as number)) |
      0;
    f = (f + b) | 0;
    b =
      (b +
        (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) ^ (c & e) ^ (d & e))) |
      0;
    a =
      (a +
        (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
        ((f & g) ^ (~f & h)) +
        (K[i + 7] as number) +
        (W[i + 7] as number)) |
      0;
    e = (e + a) | 0;
    a =
      (a +
        (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) ^ (b & d) ^ (c & d))) |
      0;
  }
  H[0] = ((H[0] as number) + a) | 0;
  H[1] = ((H[1] as number) + b) | 0;
  H[2] = ((H[2] as number) + c) | 0;
  H[3] = ((H[3] as number) + d) | 0;
  H[4] = ((H[4] as number) + e) | 0;
  H[5] = ((H[5] as number) + f) | 0;
  H[6] = ((H[6] as number) + g) | 0;
  H[7] = ((H[7] as number) + h) | 0;
}

/**
 * A fixed leading part of hashed inputs (e.g. "<flag key>:"), encoded once: its whole 64-byte
 * blocks are compressed into `midstate`, the remaining bytes are kept in `tail`.
 */
export class HashPrefix {
  readonly midstate = new Int32Array(8);
  readonly tail: Uint8Array;
  /** Bytes already compressed into midstate (a multiple of 64). */
  readonly compressedBytes: number;

  constructor(readonly text: string) {
    const bytes = encoder.encode(text);
    this.compressedBytes = bytes.length - (bytes.length % 64);
    H.set(INITIAL);
    const bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let off = 0; off < this.compressedBytes; off += 64) compress(bytesView, off);
    this.midstate.set(H);
    this.tail = bytes.slice(this.compressedBytes);
  }

  /** h mod 10000 where h is sha256(UTF-8 of prefix + suffix) read as a 256-bit big-endian integer. */
  mod10000(suffix: string): number {
    hashInto(this, suffix);
    // Horner over the eight big-endian words in int32 range: 2^32 ≡ 7296 and 2^16 ≡ 5536
    // (mod 10000), so r*7296 + hi*5536 + lo < 4.4e8 never leaves small-integer arithmetic.
    let r = 0;
    for (let i = 0; i < 8; i++) {
      const word = H[i] as number;
      r = (r * 7296 + (word >>> 16) * 5536 + (word & 0xffff)) % 10000;
    }
    return r;
  }
}

/** Hashing state after a fixed leading part: what HashPrefix holds, and HMAC's keyed inner pad. */
interface Midstate {
  readonly midstate: Int32Array;
  readonly tail: Uint8Array;
  readonly compressedBytes: number;
}

/** Hashes prefix + UTF-8 of `suffix` into the shared state H (read it before the next call). */
function hashInto(prefix: Midstate, suffix: string): void {
  const tail = prefix.tail;
  const tailLength = tail.length;
  // UTF-8 needs at most 3 bytes per UTF-16 code unit; grow the scratch buffer only for huge ids.
  const worst = tailLength + suffix.length * 3 + 72;
  if (worst > buf.length) {
    buf = new Uint8Array(Math.max(worst, buf.length * 2));
    view = new DataView(buf.buffer);
  }
  const block = buf;
  for (let i = 0; i < tailLength; i++) block[i] = tail[i] as number;
  let len = tailLength;
  // ASCII fast path: one byte per code unit, no encoder call.
  for (let i = 0; i < suffix.length; i++) {
    const code = suffix.charCodeAt(i);
    if (code >= 0x80) {
      len = tailLength + encoder.encodeInto(suffix, block.subarray(tailLength)).written;
      break;
    }
    block[len++] = code;
  }
  // Padding: 0x80, zeros, then the message length in bits as a 64-bit big-endian integer.
  const total = ((len + 8) >>> 6) * 64 + 64;
  block[len] = 0x80;
  for (let i = len + 1; i < total - 8; i++) block[i] = 0;
  const bits = (prefix.compressedBytes + len) * 8;
  const hi = Math.floor(bits / 4294967296);
  block[total - 8] = hi >>> 24;
  block[total - 7] = hi >>> 16;
  block[total - 6] = hi >>> 8;
  block[total - 5] = hi;
  block[total - 4] = bits >>> 24;
  block[total - 3] = bits >>> 16;
  block[total - 2] = bits >>> 8;
  block[total - 1] = bits;
  const m = prefix.midstate;
  H[0] = m[0] as number;
  H[1] = m[1] as number;
  H[2] = m[2] as number;
  H[3] = m[3] as number;
  H[4] = m[4] as number;
  H[5] = m[5] as number;
  H[6] = m[6] as number;
  H[7] = m[7] as number;
  for (let off = 0; off < total; off += 64) compress(view, off);
}

const NO_PREFIX = new HashPrefix("");

/** h mod 10000 where h is sha256(UTF-8 of input) read as a 256-bit big-endian integer. */
export function sha256Mod10000(input: string): number {
  return NO_PREFIX.mod10000(input);
}

/** Full digest as hex (tests and tooling; allocates). */
export function sha256Hex(input: string): string {
  hashInto(NO_PREFIX, input);
  let out = "";
  for (let i = 0; i < 8; i++) out += ((H[i] as number) >>> 0).toString(16).padStart(8, "0");
  return out;
}

function hexOfH(words: number): string {
  let out = "";
  for (let i = 0; i < words; i++) out += ((H[i] as number) >>> 0).toString(16).padStart(8, "0");
  return out;
}

/**
 * Hashes `bytes` into H (from INITIAL), compressing whole blocks where they lie: unlike sha256Hex,
 * no scratch copy, so hashing a large input once does not leave a buffer of its size behind.
 */
function hashBytesInto(bytes: Uint8Array): void {
  H.set(INITIAL);
  const whole = bytes.length - (bytes.length % 64);
  const bytesView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off < whole; off += 64) compress(bytesView, off);
  const rest = bytes.length - whole;
  const last = new Uint8Array(rest < 56 ? 64 : 128);
  last.set(bytes.subarray(whole));
  last[rest] = 0x80;
  const lastView = new DataView(last.buffer);
  const bits = bytes.length * 8;
  lastView.setUint32(last.length - 8, Math.floor(bits / 4294967296));
  lastView.setUint32(last.length - 4, bits >>> 0);
  for (let off = 0; off < last.length; off += 64) compress(lastView, off);
}

/** SHA-256 of `bytes` as hex, however large, without a lasting buffer. */
export function sha256HexOfBytes(bytes: Uint8Array): string {
  hashBytesInto(bytes);
  return hexOfH(8);
}

/**
 * HMAC-SHA256 (RFC 2104) under one key. The key's inner and outer pad blocks are compressed once,
 * so a short message costs three compressions, one more than its plain hash.
 */
export class HmacSha256 {
  readonly #inner: Midstate;
  readonly #outer = new Int32Array(8);
  // The outer hash's only block: the inner digest, then fixed padding.
  readonly #block = new DataView(new ArrayBuffer(64));

  constructor(key: Uint8Array) {
    let k = key;
    if (k.length > 64) {
      hashBytesInto(k);
      k = new Uint8Array(32);
      const kView = new DataView(k.buffer);
      for (let i = 0; i < 8; i++) kView.setInt32(i * 4, H[i] as number);
    }
    const pad = new Uint8Array(64);
    const padView = new DataView(pad.buffer);
    const midstateOf = (byte: number): Int32Array => {
      for (let i = 0; i < 64; i++) pad[i] = byte ^ (k[i] ?? 0);
      H.set(INITIAL);
      compress(padView, 0);
      return Int32Array.from(H);
    };
    this.#inner = { midstate: midstateOf(0x36), tail: new Uint8Array(0), compressedBytes: 64 };
    this.#outer.set(midstateOf(0x5c));
    this.#block.setUint8(32, 0x80);
    // Length of the outer message: the 64-byte pad block and the 32-byte inner digest, in bits.
    this.#block.setUint32(60, (64 + 32) * 8);
  }

  /** HMAC of the UTF-8 of `message` as hex: all 64 characters, or the first `hexChars` (a multiple of 8). */
  hex(message: string, hexChars = 64): string {
    hashInto(this.#inner, message);
    const block = this.#block;
    for (let i = 0; i < 8; i++) block.setInt32(i * 4, H[i] as number);
    H.set(this.#outer);
    compress(block, 0);
    return hexOfH(Math.ceil(hexChars / 8));
  }
}
