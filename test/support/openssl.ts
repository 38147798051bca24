// Many certificates through the openssl command in two processes, not one per certificate:
// `crl2pkcs7 -certfile` reads every PEM of a file (refusing the whole file if one does not parse)
// and `pkcs7 -print_certs -text` prints each certificate as `openssl x509 -text` would.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What openssl made of the certificates: their serials in order, or why it refused them. */
export type OpensslParse = { serials: bigint[]; error?: undefined } | { serials?: undefined; error: string };

function openssl(args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const run = spawnSync("openssl", args, { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
  if (run.error) throw run.error;
  return { ok: run.status === 0, stdout: run.stdout, stderr: run.stderr };
}

/** The serial numbers openssl reads from these PEM certificates, in order. */
export function opensslSerials(pems: string[]): OpensslParse {
  const dir = mkdtempSync(join(tmpdir(), "flagwright-openssl-"));
  try {
    const certs = join(dir, "certs.pem");
    const bundle = join(dir, "bundle.p7");
    writeFileSync(certs, pems.join(""));
    const packed = openssl(["crl2pkcs7", "-nocrl", "-certfile", certs, "-out", bundle]);
    if (!packed.ok) return { error: packed.stderr };
    const printed = openssl(["pkcs7", "-in", bundle, "-print_certs", "-text", "-noout"]);
    if (!printed.ok) return { error: printed.stderr };
    // "Serial Number: 4660 (0x1234)" up to 8 octets, else the octets in hex on the next line.
    const serials = [
      ...printed.stdout.matchAll(/Serial Number:[ \t]*(?:\d+ \(0x([0-9a-f]+)\)|\r?\n\s*([0-9a-f:]+))/gi),
    ].map((m) => BigInt(`0x${(m[1] ?? m[2] ?? "").replaceAll(":", "")}`));
    return { serials };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
