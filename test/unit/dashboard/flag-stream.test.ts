// The dashboard's event stream: a hello frame on open, one `flag` frame per change to every open
// page, nothing to a page that went away.
import { EventEmitter } from "node:events";
import type { Request, Response } from "express";
import { describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { FlagStream } from "../../../src/dashboard/flag-stream.js";

function page() {
  const frames: string[] = [];
  const req = new EventEmitter();
  const res = {
    writeHead: () => res,
    write: (frame: string) => frames.push(frame),
    end: () => frames.push("(end)"),
  };
  return {
    frames,
    req: req as unknown as Request,
    res: res as unknown as Response,
    leave: () => req.emit("close"),
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
    expect(a.frames).toEqual(["retry: 1000\nevent: hello\ndata: {}\n\n"]);
    stream.broadcast({ type: "upsert", flag: flag("checkout") });
    b.leave();
    stream.broadcast({ type: "delete", flag: flag("checkout") });
    stream.close();
    const payloads = (frames: string[]) =>
      frames
        .filter((f) => f.startsWith("event: flag"))
        .map((f) => JSON.parse(f.split("data: ")[1] as string));
    expect(payloads(a.frames)).toMatchObject([
      { type: "upsert", row: { namespace: "shop", name: "checkout", key: "checkout" } },
      { type: "delete", namespace: "shop", name: "checkout" },
    ]);
    expect(payloads(b.frames)).toHaveLength(1);
    expect(a.frames.at(-1)).toBe("(end)");
    expect(b.frames.at(-1)).not.toBe("(end)");
  });
});
