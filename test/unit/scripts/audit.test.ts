import { describe, expect, it } from "vitest";
import { readAudit } from "../../../scripts/audit.js";

// Shapes as npm 11 prints them: a report (auditReportVersion 2) or the registry's error.
const report = (counts: Record<string, number>) =>
  JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities: {},
    metadata: {
      vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0, ...counts },
    },
  });

describe("readAudit", () => {
  it("counts high and critical advisories from a report", () => {
    expect(readAudit(report({ moderate: 2, high: 1, critical: 1, total: 4 }))).toEqual({
      kind: "checked",
      high: 1,
      critical: 1,
      total: 4,
    });
    expect(readAudit(report({}))).toEqual({ kind: "checked", high: 0, critical: 0, total: 0 });
  });

  it("tells an unanswered audit endpoint from a clean report", () => {
    const refused = JSON.stringify({
      message: "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
      statusCode: 405,
      error: { summary: "", detail: "" },
    });
    expect(readAudit(refused)).toEqual({
      kind: "unanswered",
      reason: "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
    });
    expect(readAudit("npm ERR! network").kind).toBe("unanswered");
  });
});
