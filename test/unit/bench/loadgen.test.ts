// The latency runs' load generator (bench/loadgen, built and run as a real process) against a
// server that records when each request arrives: it holds the asked rate with evenly spaced sends
// (not each connection's quota for the second in one burst), sends the given requests in rotation,
// and counts a server's stall in the latency of every request the stall delays.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureLoadgenBinary, runLoadgen } from "../../../bench/loadgen/build.js";

describe("bench/loadgen", () => {
  let binary = "";
  let server: Server;
  let url = "";
  const arrivals: { at: number; path: string; body: string; authorization?: string | undefined }[] = [];
  let stallUntil = 0;
  const dir = mkdtempSync(join(tmpdir(), "flagwright-loadgen-"));
  const requestsFile = join(dir, "requests.json");

  beforeAll(async () => {
    binary = await ensureLoadgenBinary();
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        arrivals.push({
          at: performance.now(),
          path: req.url ?? "",
          body,
          authorization: req.headers.authorization,
        });
        const answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}");
        const wait = stallUntil - performance.now();
        if (wait > 0) setTimeout(answer, wait);
        else answer();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeFileSync(
      requestsFile,
      JSON.stringify([
        { method: "POST", path: "/a", body: '{"n":1}' },
        { method: "POST", path: "/b", body: '{"n":2}' },
      ]),
    );
  }, 600_000); // a first build downloads vegeta from the Go module proxy

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends at the asked rate, evenly spaced, the given requests in rotation", async () => {
    arrivals.length = 0;
    const report = await runLoadgen(binary, { url, requestsFile, rate: 400, seconds: 2, connections: 16 });
    expect(report.failed).toBe(0);
    expect(report.requests).toBe(800);
    expect(arrivals).toHaveLength(800);
    expect(new Set(arrivals.map((a) => `${a.path} ${a.body}`))).toEqual(
      new Set(['/a {"n":1}', '/b {"n":2}']),
    );
    // 400/s is 40 per 100 ms; a generator that sends a second's quota at once puts up to 400 in one.
    const first = arrivals[0]?.at ?? 0;
    const perWindow = new Map<number, number>();
    for (const a of arrivals) {
      const w = Math.floor((a.at - first) / 100);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(80);
  });

  it("counts a server stall in the latency of every request it delays", async () => {
    arrivals.length = 0;
    // The server answers nothing for 500 ms from 0.5 s into a 2 s run at 200/s: about 100 sends
    // fall into the stall, more than the 16 connections can carry, and each waits for its answer.
    setTimeout(() => {
      stallUntil = performance.now() + 500;
    }, 500);
    const report = await runLoadgen(binary, { url, requestsFile, rate: 200, seconds: 2, connections: 16 });
    expect(report.failed).toBe(0);
    expect(report.maxMs).toBeGreaterThanOrEqual(400);
    // About 100 of 400 requests (25 %) are delayed, by up to 500 ms: p90 sees the stall, p50 does not.
    expect(report.p90Ms).toBeGreaterThan(50);
    expect(report.p50Ms).toBeLessThan(50);
  });

  it("spreads pods over clients and servers, adds headers, and writes every request's send time and latency", async () => {
    arrivals.length = 0;
    // Two pods: entry 0 names its own server (this one, by url), entry 1 uses -url.
    const podsFile = join(dir, "pods.json");
    writeFileSync(
      podsFile,
      JSON.stringify([
        { method: "POST", path: "/pod-0", body: "{}", url },
        { method: "POST", path: "/pod-1", body: "{}" },
      ]),
    );
    const samplesFile = join(dir, "samples.txt");
    const report = await runLoadgen(binary, {
      url,
      requestsFile: podsFile,
      rate: 100,
      seconds: 1,
      connections: 1,
      clients: 2,
      headers: ["Authorization: Bearer t0ken"],
      samplesFile,
    });
    expect(report.failed).toBe(0);
    expect(report.requests).toBe(100);
    // Client i sends entries i, i + 2, ...: each pod half of the requests.
    expect(arrivals.filter((a) => a.path === "/pod-0")).toHaveLength(50);
    expect(arrivals.filter((a) => a.path === "/pod-1")).toHaveLength(50);
    expect(new Set(arrivals.map((a) => a.authorization))).toEqual(new Set(["Bearer t0ken"]));
    const samples = readFileSync(samplesFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" ").map(Number) as [number, number]);
    expect(samples).toHaveLength(100);
    expect(samples[0]?.[0]).toBe(0);
    // In send order, 10 ms apart on average over the run, each with a latency.
    for (let i = 1; i < samples.length; i++)
      expect(samples[i]?.[0]).toBeGreaterThanOrEqual(samples[i - 1]?.[0] as number);
    expect(samples.at(-1)?.[0]).toBeGreaterThan(900);
    expect(samples.every(([, latency]) => latency > 0 && latency < 1000)).toBe(true);
  });
});
