// The dashboard's event stream: a hello frame on open, one `flag` frame per change to every open
// page, nothing to a page that went away, 503 past the open-page bound.
import { EventEmitter } from "node:events";
import type { Request, Response } from "express";
import { describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { FlagStream } from "../../../src/dashboard/flag-stream.js";

function page() {
  const frames: string[] = [];
  const req = Object.assign(new EventEmitter(), { socket: { setNoDelay() {}, setKeepAlive() {} } });
  const res = Object.assign(new EventEmitter(), {
    writableLength: 0,
    statusCode: 200,
    writeHead: () => res,
    write: (frame: string) => frames.push(frame),
    end: () => frames.push("(end)"),
    status(code: number) {
      res.statusCode = code;
      return res;
    },
    json: (body: unknown) => frames.push(`(json ${res.statusCode} ${JSON.stringify(body)})`),
  });
  return {
    frames,
    req: req as unknown as Request,
    res: res as unknown as Response,
    leave: () => res.emit("close"),
  };
}

const flag = (name: string): FeatureFlag =>
  ({
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name, namespace: "shop", resourceVersion: "7" },
    spec: { enabled: true },
  }) as FeatureFlag;

describe("FlagStream", () => {
  it("greets each page, sends every change to the pages still open, and ends them on close", () => {
    const stream = new FlagStream(() => new Date("2026-12-07T09:00:00Z"));
    const [a, b] = [page(), page()];
    stream.open(a.req, a.res);
    stream.open(b.req, b.res);
    expect(a.frames).toEqual(["retry: 1000\n\nevent: hello\ndata: {}\n\n"]);
    stream.broadcast({ type: "upsert", flag: flag("checkout") });
    b.leave();
    stream.broadcast({ type: "delete", flag: flag("checkout") });
    stream.close();
    const payloads = (frames: string[]) =>
      frames.filter((f) => f.includes("event: flag")).map((f) => JSON.parse(f.split("data: ")[1] as string));
    expect(payloads(a.frames)).toMatchObject([
      { type: "upsert", row: { namespace: "shop", name: "checkout", key: "checkout" } },
      { type: "delete", namespace: "shop", name: "checkout" },
    ]);
    expect(payloads(b.frames)).toHaveLength(1);
    expect(a.frames.at(-1)).toBe("(end)");
    expect(b.frames.at(-1)).not.toBe("(end)");
  });

  it("answers 503 once 1,000 pages are open, and takes the next after one leaves", () => {
    const stream = new FlagStream(() => new Date());
    const pages = Array.from({ length: 1000 }, () => page());
    for (const p of pages) stream.open(p.req, p.res);
    const extra = page();
    stream.open(extra.req, extra.res);
    expect(extra.frames).toEqual([expect.stringMatching(/^\(json 503 .*too many open dashboard pages/)]);
    pages[0]?.leave();
    const next = page();
    stream.open(next.req, next.res);
    expect(next.frames[0]).toContain("event: hello");
    stream.close();
  });
});
