// 10,000 webhook certificates as the operator generates them (a CA and a serving certificate per
// call, src/operator/injection/certificates.ts) all parse with node:crypto and with openssl. A
// random serial used to come out as invalid DER about once in 512 draws, and reading a generated
// key's details used to deadlock node:crypto about once in tens of thousands of keys. No control
// plane is needed; this lives with the integration tests for its run time (about a minute on a
// busy 2-core machine, far over the unit timeout). The certificates are generated in a child
// process with a deadline, so a deadlock fails the test instead of holding the suite forever.
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { expect, it } from "vitest";
import { opensslSerials } from "../../support/openssl.js";

const PAIRS = 5_000;
const DEADLINE_MS = 240_000;

/** The child's PEMs, or an error naming what went wrong (exit status, or the deadline). */
function generateInChild(pairs: number, seed: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      // A 1 MiB semi-space (the operator's chart value is 2) makes scavenges frequent, so a fault that
      // depends on where a garbage collection falls shows sooner.
      [
        "--max-semi-space-size=1",
        "--import",
        "tsx",
        "test/support/generate-certificates-child.ts",
        String(pairs),
        String(seed),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL")
        reject(
          new Error(
            `generating ${pairs} certificate pairs did not finish within ${DEADLINE_MS / 1000} s (a deadlock?)`,
          ),
        );
      else if (code !== 0) reject(new Error(`the certificate generator exited with ${code ?? signal}`));
      else resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as string[]);
    });
  });
}

it("10,000 generated certificates all parse with node:crypto and openssl", { timeout: 300_000 }, async () => {
  const started = performance.now();
  const pems = await generateInChild(PAIRS, 27);
  const generatedMs = performance.now() - started;
  expect(pems).toHaveLength(2 * PAIRS);

  const unparsed: string[] = [];
  const serials = pems.map((pem, i) => {
    try {
      return BigInt(`0x${new X509Certificate(pem).serialNumber}`);
    } catch (error) {
      unparsed.push(`#${i}: ${(error as Error).message}`);
      return -1n;
    }
  });
  expect(unparsed).toEqual([]);
  expect(new Set(serials).size).toBe(pems.length);
  const openssl = opensslSerials(pems);
  expect(openssl.error).toBeUndefined();
  expect(openssl.serials).toEqual(serials);
  console.log(
    `${pems.length} certificates: generated in ${generatedMs.toFixed(0)} ms (child process), parsed by node:crypto and openssl in ${(performance.now() - started - generatedMs).toFixed(0)} ms`,
  );
});
