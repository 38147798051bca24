// A minimal DER encoder: just the ASN.1 types an X.509 v3 certificate with ECDSA needs, so the
// operator needs neither openssl nor a dependency to issue its webhook certificate. DER allows
// exactly one encoding of each value (X.690 section 10); parsers such as OpenSSL and Go's
// crypto/x509 refuse anything else, so every helper here emits that one encoding.

/** A definite length: short form below 128, else the fewest big-endian octets (X.690 10.1). */
function length(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER length ${n} is not a length`);
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A tag-length-value element around the concatenated parts. */
export const der = (tag: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};

export const seq = (...parts: Buffer[]) => der(0x30, ...parts);

/** A BOOLEAN: DER encodes TRUE as 0xff only (X.690 11.1). */
export const bool = (value: boolean) => der(0x01, Buffer.from([value ? 0xff : 0x00]));

/** One OID sub-identifier in base 128, high bit set on every octet but the last. */
function base128(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`OID arc ${n} is not a non-negative integer`);
  const chunk = [n & 0x7f];
  for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
  return chunk;
}

export const oid = (dotted: string) => {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  if (a > 2 || (a < 2 && b >= 40)) throw new RangeError(`OID ${dotted} has an impossible first arc`);
  // The first two arcs share one sub-identifier, which itself may need several octets.
  return der(0x06, Buffer.from([...base128(40 * a + b), ...rest.flatMap(base128)]));
};

/**
 * The content octets of an INTEGER holding a two's-complement value: the fewest octets, so no
 * leading 0x00 unless the next octet's high bit is set (a positive value) and no leading 0xff
 * unless the next octet's high bit is clear (a negative value) (X.690 8.3.2).
 */
function minimalTwosComplement(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1) {
    const first = bytes[start] as number;
    const nextHigh = (bytes[start + 1] as number) & 0x80;
    if ((first === 0x00 && !nextHigh) || (first === 0xff && nextHigh)) start++;
    else break;
  }
  return bytes.subarray(start);
}

/** An INTEGER from unsigned big-endian bytes of any length, leading zeros or not. */
export const positiveInt = (bytes: Buffer) => {
  const padded = Buffer.concat([Buffer.from([0]), bytes.length > 0 ? bytes : Buffer.from([0])]);
  return der(0x02, minimalTwosComplement(padded));
};

/** An INTEGER from a JavaScript integer, negative ones included. */
export const integer = (value: number | bigint) => {
  let v = BigInt(value);
  const bytes: number[] = [];
  // Emit little-endian octets until the remaining value is pure sign extension.
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v !== 0n && v !== -1n);
  const sign = v === -1n ? 0xff : 0x00;
  return der(0x02, minimalTwosComplement(Buffer.from([sign, ...bytes])));
};

/**
 * A BIT STRING holding whole octets (keys, signatures): the first content octet counts the unused
 * bits of the last one, here none.
 */
export const octetBits = (bytes: Buffer) => der(0x03, Buffer.from([0]), bytes);

/**
 * A BIT STRING of named bits (bit 0 is the high bit of the first octet), as keyUsage uses. DER
 * drops trailing zero bits (X.690 11.2.2), so the length follows the highest bit set.
 */
export const namedBits = (bits: number[]) => {
  if (bits.length === 0) return der(0x03, Buffer.from([0]));
  const highest = Math.max(...bits);
  const octets = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) octets[bit >> 3] = (octets[bit >> 3] as number) | (0x80 >> (bit & 7));
  return der(0x03, Buffer.from([7 - (highest & 7)]), octets);
};

/**
 * UTCTime for 1950 through 2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5), both in UTC with
 * seconds and no fraction, as DER requires (X.690 11.7, 11.8).
 */
export const time = (date: Date) => {
  const year = date.getUTCFullYear();
  if (!Number.isFinite(date.getTime()) || year < 0 || year > 9999)
    throw new RangeError(`${date} cannot be a certificate time`);
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return year >= 1950 && year < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
};
