// The dashboard's static files: the page, its script modules (app.js and the pages it routes to;
// filter.js is the flag filter the server's views share) and the vendored uPlot, read once and
// gzipped once.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import type { Express, Request, Response } from "express";

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
};

function asset(name: string, body: Buffer): Asset {
  const type = TYPES[name.split(".").at(-1) ?? ""] ?? "application/octet-stream";
  return { type, body, gzip: gzipSync(body, { level: 9 }) };
}

/**
 * The page and its scripts by path. The charting library comes from the installed uplot package
 * (a dependency, so it ships with Flagwright): no CDN, works offline.
 */
function loadAssets(): Map<string, Asset> {
  const dir = new URL("./static/", import.meta.url);
  const read = (name: string) => readFileSync(new URL(name, dir));
  const require = createRequire(import.meta.url);
  return new Map([
    ["/", asset("index.html", read("index.html"))],
    ["/static/app.js", asset("app.js", read("app.js"))],
    ["/static/page.js", asset("page.js", read("page.js"))],
    ["/static/flags-page.js", asset("flags-page.js", read("flags-page.js"))],
    ["/static/flag-page.js", asset("flag-page.js", read("flag-page.js"))],
    ["/static/experiments-page.js", asset("experiments-page.js", read("experiments-page.js"))],
    ["/static/debt-page.js", asset("debt-page.js", read("debt-page.js"))],
    ["/static/charts.js", asset("charts.js", read("charts.js"))],
    ["/static/filter.js", asset("filter.js", read("filter.js"))],
    ["/static/style.css", asset("style.css", read("style.css"))],
    ["/vendor/uplot.js", asset("uplot.js", readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")))],
    ["/vendor/uplot.css", asset("uplot.css", readFileSync(require.resolve("uplot/dist/uPlot.min.css")))],
  ]);
}

function sendAsset(req: Request, res: Response, a: Asset): void {
  res.setHeader("content-type", a.type);
  res.setHeader("vary", "accept-encoding");
  if (/\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) {
    res.setHeader("content-encoding", "gzip");
    res.end(a.gzip);
  } else res.end(a.body);
}

/** GET routes for every static file. */
export function registerAssets(app: Express): void {
  for (const [path, a] of loadAssets()) app.get(path, (req, res) => sendAsset(req, res, a));
}
