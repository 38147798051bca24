// Abuse cases of the sidecar injection webhook's HTTPS server (src/operator/injection/): it
// answers AdmissionReviews only, over TLS only, as application/json only, and refuses an
// oversized body (413) before reading it. test/integration/injection/ has the happy path through
// the real API server.
import { type ClientRequest, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ADMISSION_BODY } from "../../../src/operator/injection/admission-server.js";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";
import { type InjectionServer, startInjectionServer } from "../../../src/operator/injection/webhook.js";

const certs = generateCertificates({ ipAddresses: ["127.0.0.1"] });
let server: InjectionServer;

const admissionReview = (extra: Record<string, unknown> = {}) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "0b5d6a9c-1",
    kind: { group: "", version: "v1", kind: "Pod" },
    namespace: "shop",
    object: {
      metadata: { name: "app", labels: { "flagwright.dev/inject": "true" } },
      spec: { containers: [{ name: "app", image: "app:1" }] },
    },
  },
  ...extra,
});

interface Answer {
  status: number;
  body: string;
}

/**
 * POST /inject over TLS (trusting the webhook's CA, as the API server does); `write` sends the
 * body. The server may close the connection while the client is still uploading: the answer
 * counts, later socket errors do not.
 */
function exchange(headers: Record<string, string | number>, write: (req: ClientRequest) => void) {
  return new Promise<Answer>((resolve, reject) => {
    let answered = false;
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: server.address.port,
        path: "/inject",
        method: "POST",
        ca: certs.caCert,
        headers,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          answered = true;
          resolve({ status: res.statusCode ?? 0, body: text });
          req.destroy();
        });
      },
    );
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    write(req);
  });
}

/**
 * POST /inject with a whole body. A Content-Length without the body behind it gets a 413 only if
 * the server answers before reading (it would otherwise wait for bytes that never come).
 */
const post = (
  body: string | Buffer,
  headers: Record<string, string | number> = { "content-type": "application/json" },
) => exchange(headers, (req) => req.end(body));

beforeAll(async () => {
  server = await startInjectionServer({
    host: "127.0.0.1",
    port: 0,
    tls: certs,
    settings: { image: "ghcr.io/flagwright/flagwright:test", configMapName: "flagwright-flags" },
  });
});
afterAll(() => server.stop());

describe("the injection webhook server", () => {
  it("answers a v1 AdmissionReview for a pod that asked with an allowed JSON patch", async () => {
    const answer = await post(JSON.stringify(admissionReview()));
    expect(answer.status).toBe(200);
    const review = JSON.parse(answer.body);
    expect(review).toMatchObject({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "0b5d6a9c-1", allowed: true, patchType: "JSONPatch" },
    });
  });

  it.each([
    ["a JSON object that is not an AdmissionReview", { hello: "world" }, /not an AdmissionReview/],
    ["a review-shaped object of another kind", admissionReview({ kind: "Pod" }), /not an AdmissionReview$/m],
    ["a review without request.uid", admissionReview({ request: { kind: { kind: "Pod" } } }), /request\.uid/],
    [
      "an AdmissionReview of another version",
      admissionReview({ apiVersion: "admission.k8s.io/v1beta1" }),
      /unsupported AdmissionReview version/,
    ],
    ["JSON null", null, /not an AdmissionReview/],
    ["a JSON array", [admissionReview()], /not an AdmissionReview/],
  ])("answers 400 for %s", async (_label, body, message) => {
    const answer = await post(JSON.stringify(body));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(message);
  });

  it("answers 400 for a body that is not JSON", async () => {
    expect((await post("<AdmissionReview/>")).status).toBe(400);
  });

  it.each([
    ["text/plain", { "content-type": "text/plain" }],
    ["application/x-www-form-urlencoded", { "content-type": "application/x-www-form-urlencoded" }],
    ["no content type", {}],
  ])("answers 415 for %s, even with a valid review", async (_label, headers) => {
    const answer = await post(JSON.stringify(admissionReview()), headers);
    expect(answer.status).toBe(415);
  });

  it("accepts application/json with parameters", async () => {
    const answer = await post(JSON.stringify(admissionReview()), {
      "content-type": "application/json; charset=utf-8",
    });
    expect(answer.status).toBe(200);
  });

  it("answers 413 from Content-Length alone, before reading the body", async () => {
    const answer = await post(Buffer.alloc(0), {
      "content-type": "application/json",
      "content-length": MAX_ADMISSION_BODY + 1,
    });
    expect(answer.status).toBe(413);
    expect(answer.body).toContain(`exceeds ${MAX_ADMISSION_BODY} bytes`);
  });

  it("caps bodies at 1.5 MiB, as the validation webhook: a review of any Pod etcd can store fits", async () => {
    const review = JSON.stringify(admissionReview());
    const padded = (size: number) =>
      `${review.slice(0, -1)},"padding":"${"x".repeat(size - review.length - 13)}"}`;
    const over = await post(padded(1.5 * 1024 * 1024 + 1));
    expect(over.status).toBe(413);
    const under = await post(padded(1.5 * 1024 * 1024));
    expect(under.status).toBe(200);
    expect(JSON.parse(under.body).response.patchType).toBe("JSONPatch");
  });

  it("answers 413 to an oversized chunked body (no Content-Length) without buffering it all", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const answer = await exchange(
      { "content-type": "application/json", "transfer-encoding": "chunked" },
      (req) => {
        // Keep sending (far past the limit) until the server answers.
        let sent = 0;
        const pump = () => {
          while (sent < 4 * MAX_ADMISSION_BODY && !req.destroyed) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once("drain", pump);
          }
        };
        pump();
      },
    );
    expect(answer.status).toBe(413);
  });

  it("speaks TLS only: a plain HTTP request gets no HTTP answer", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port: server.address.port,
          path: "/inject",
          method: "POST",
          headers: { "content-type": "application/json" },
        },
        (res) => resolve(`HTTP ${res.statusCode}`),
      );
      req.on("error", (error) => resolve(`error ${(error as NodeJS.ErrnoException).code}`));
      req.end(JSON.stringify(admissionReview()));
    });
    expect(outcome).toMatch(/^error /);
  });
});
