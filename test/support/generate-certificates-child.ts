// Generates webhook certificates as the operator does, in a process of its own, and prints them as
// a JSON array of PEMs: `node --import tsx test/support/generate-certificates-child.ts PAIRS SEED`.
// A test that runs it can stop it at a deadline: a thread stuck inside node:crypto (see newKey in
// src/operator/injection/certificates.ts) cannot be interrupted from within its own process.
import { generateCertificates } from "../../src/operator/injection/certificates.js";
import { seededRandom } from "./seeded-random.js";

const DAY = 24 * 60 * 60 * 1000;
const [pairs = 0, seed = 0] = process.argv.slice(2).map(Number);
const random = seededRandom(seed);
const pick = (n: number) => Math.floor(random() * n);
const pems: string[] = [];
for (let i = 0; i < pairs; i++) {
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
process.stdout.write(JSON.stringify(pems));
