// 10,000 webhook certificates as the operator generates them (a CA and a serving certificate per
// call, src/operator/injection/certificates.ts) all parse with node:crypto and with openssl. A
// random serial used to come out as invalid DER about once in 512 draws. No control plane is
// needed; this lives with the integration tests for its run time (about a minute on a busy 2-core
// machine, far over the unit timeout).
import { X509Certificate } from "node:crypto";
import { expect, it } from "vitest";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";
import { opensslSerials } from "../../support/openssl.js";
import { seededRandom } from "../../support/seeded-random.js";

const PAIRS = 5_000;
const DAY = 24 * 60 * 60 * 1000;

it("10,000 generated certificates all parse with node:crypto and openssl", { timeout: 300_000 }, () => {
  const random = seededRandom(27);
  const pick = (n: number) => Math.floor(random() * n);
  const started = performance.now();
  const pems: string[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const service = `svc-${i.toString(36)}.ns-${pick(1000)}.svc`;
    const hosts = {
      dnsNames: [service, `${service}.cluster.local`].slice(0, 1 + pick(2)),
      ipAddresses: pick(2) ? ["127.0.0.1"] : [],
    };
    // Mostly today; sometimes near the UTCTime/GeneralizedTime switch (2050) the expiry crosses.
    const now = pick(10) === 0 ? new Date(Date.UTC(2040 + pick(10), pick(12), 1 + pick(28))) : new Date();
    const certs = generateCertificates(hosts, new Date(now.getTime() - pick(1000) * DAY));
    pems.push(certs.caCert, certs.cert);
  }
  const generatedMs = performance.now() - started;

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
    `${pems.length} certificates: generated in ${generatedMs.toFixed(0)} ms, parsed by node:crypto and openssl in ${(performance.now() - started - generatedMs).toFixed(0)} ms`,
  );
});
