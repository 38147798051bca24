// The DER encoder of the webhook certificates (src/operator/injection/der.ts) emits the one
// encoding X.690 allows for each value; OpenSSL and Go's crypto/x509 refuse any other.
import { describe, expect, it } from "vitest";
import {
  bool,
  der,
  integer,
  namedBits,
  octetBits,
  oid,
  positiveInt,
  time,
} from "../../../src/operator/injection/der.js";

const hex = (b: Buffer) => b.toString("hex");
const bytes = (h: string) => Buffer.from(h, "hex");

describe("positiveInt", () => {
  it("drops a leading zero octet when the next octet's high bit is clear (the 1-in-512 serial)", () => {
    // 16 random serial octets starting 00 12: a leading 00 here is padding OpenSSL refuses.
    expect(hex(positiveInt(bytes("0012aabbccddeeff0011223344556677")))).toBe(
      "020f12aabbccddeeff0011223344556677",
    );
    expect(hex(positiveInt(bytes("00007f")))).toBe("02017f");
  });

  it("keeps one zero octet before a high bit, so the value stays positive", () => {
    expect(hex(positiveInt(bytes("80")))).toBe("02020080");
    expect(hex(positiveInt(bytes("0080")))).toBe("02020080");
    expect(hex(positiveInt(bytes("000080")))).toBe("02020080");
    expect(hex(positiveInt(bytes("ff01")))).toBe("020300ff01");
  });

  it("encodes zero as one zero octet", () => {
    expect(hex(positiveInt(bytes("")))).toBe("020100");
    expect(hex(positiveInt(bytes("0000")))).toBe("020100");
  });

  it("is minimal for every two-octet input", () => {
    const wrong: number[] = [];
    for (let v = 0; v < 65536; v++) {
      const content = positiveInt(Buffer.from([v >> 8, v & 0xff])).subarray(2);
      // Minimal: no 00 before a clear high bit; positive: the first octet's high bit is clear.
      const padded = content.length > 1 && content[0] === 0 && ((content[1] as number) & 0x80) === 0;
      const negative = ((content[0] as number) & 0x80) !== 0;
      if (padded || negative || content.readUIntBE(0, content.length) !== v) wrong.push(v);
    }
    expect(wrong).toEqual([]);
  });
});

describe("integer", () => {
  it("encodes small, boundary and negative values minimally in two's complement", () => {
    const cases: [number | bigint, string][] = [
      [0, "020100"],
      [2, "020102"],
      [127, "02017f"],
      [128, "02020080"],
      [255, "020200ff"],
      [256, "02020100"],
      [-1, "0201ff"],
      [-128, "020180"],
      [-129, "0202ff7f"],
      [-256, "0202ff00"],
      [-32768, "02028000"],
      [2n ** 64n, "0209010000000000000000"],
    ];
    for (const [value, encoded] of cases) expect(hex(integer(value)), String(value)).toBe(encoded);
  });
});

describe("lengths", () => {
  it("uses the short form below 128 and the fewest octets above", () => {
    expect(hex(der(0x04, Buffer.alloc(127))).slice(0, 4)).toBe("047f");
    expect(hex(der(0x04, Buffer.alloc(128))).slice(0, 6)).toBe("048180");
    expect(hex(der(0x04, Buffer.alloc(255))).slice(0, 6)).toBe("0481ff");
    expect(hex(der(0x04, Buffer.alloc(256))).slice(0, 8)).toBe("04820100");
    expect(hex(der(0x04, Buffer.alloc(65536))).slice(0, 10)).toBe("0483010000");
  });
});

describe("BOOLEAN, BIT STRING and OID", () => {
  it("encodes TRUE as ff and FALSE as 00", () => {
    expect(hex(bool(true))).toBe("0101ff");
    expect(hex(bool(false))).toBe("010100");
  });

  it("trims named bits after the highest one set and counts the unused bits", () => {
    // keyUsage of a CA: digitalSignature (0), keyCertSign (5), cRLSign (6).
    expect(hex(namedBits([0, 5, 6]))).toBe("03020186");
    expect(hex(namedBits([0]))).toBe("03020780");
    expect(hex(namedBits([7]))).toBe("03020001");
    expect(hex(namedBits([8]))).toBe("0303070080");
    expect(hex(namedBits([]))).toBe("030100");
    expect(hex(octetBits(bytes("abcd")))).toBe("030300abcd");
  });

  it("encodes OIDs, including a first sub-identifier above 127", () => {
    expect(hex(oid("1.2.840.10045.4.3.2"))).toBe("06082a8648ce3d040302");
    expect(hex(oid("2.5.29.17"))).toBe("0603551d11");
    expect(hex(oid("2.100.3"))).toBe("0603813403");
    expect(() => oid("1.40")).toThrow(/first arc/);
  });
});

describe("time", () => {
  it("uses UTCTime from 1950 through 2049 and GeneralizedTime outside, seconds and Z only", () => {
    const at = (iso: string) => time(new Date(iso)).toString("latin1");
    expect(at("1949-12-31T23:59:59.999Z")).toBe("\x18\x0f19491231235959Z");
    expect(at("1950-01-01T00:00:00Z")).toBe("\x17\x0d500101000000Z");
    expect(at("2026-12-07T02:20:54.321Z")).toBe("\x17\x0d261207022054Z");
    expect(at("2049-12-31T23:59:59Z")).toBe("\x17\x0d491231235959Z");
    expect(at("2050-01-01T00:00:00Z")).toBe("\x18\x0f20500101000000Z");
    expect(() => time(new Date(Number.NaN))).toThrow(/certificate time/);
    expect(() => time(new Date("+010000-01-01T00:00:00Z"))).toThrow(/certificate time/);
  });
});
