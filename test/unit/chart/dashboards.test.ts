// The Grafana dashboards (deploy/grafana/ for kustomize, charts/flagwright/dashboards/ for Helm):
// the two copies agree, and every panel queries the Prometheus data source chosen in the
// dashboard. test/integration/observability/dashboards.test.ts runs every query against a real
// Prometheus scraping an operator and a sidecar.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const folder = (path: string) => new URL(`../../../${path}/`, import.meta.url);
const files = readdirSync(folder("deploy/grafana")).filter((f) => f.endsWith(".json"));

/** Grafana's variable syntax, not a template string. */
const DATASOURCE_UID = ["$", "{datasource}"].join("");

interface Panel {
  id: number;
  title: string;
  datasource: { type: string; uid: string };
  targets: { expr: string; refId: string; datasource: { uid: string } }[];
  gridPos: { x: number; y: number; w: number; h: number };
}

describe("Grafana dashboards", () => {
  it("are the operator's and the sidecars'", () => {
    expect(files.sort()).toEqual(["flagwright-operator.json", "flagwright-sidecar.json"]);
  });

  it.each(files)("%s: the chart ships the same JSON as deploy/grafana", (file) => {
    expect(readFileSync(new URL(file, folder("charts/flagwright/dashboards")), "utf8")).toBe(
      readFileSync(new URL(file, folder("deploy/grafana")), "utf8"),
    );
  });

  it.each(files)("%s: every panel queries the chosen Prometheus, with ids and places of its own", (file) => {
    const dashboard = JSON.parse(readFileSync(new URL(file, folder("deploy/grafana")), "utf8"));
    expect(dashboard.uid).toBe(file.replace(/\.json$/, ""));
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: "datasource", type: "datasource", query: "prometheus" }),
    );
    const panels = dashboard.panels as Panel[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: DATASOURCE_UID });
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect(target.expr, panel.title).toMatch(/\S/);
        expect(target.datasource.uid).toBe(DATASOURCE_UID);
      }
    }
    // No two panels overlap on Grafana's 24-column grid.
    const cells = new Set<string>();
    for (const { gridPos: g, title } of panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), title).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });
});
