// The event store's URL check (operator and sidecar flags) and the aggregate's portability: a bad
// URL is refused with a message naming the flag; the analysis query uses no PostgreSQL-only syntax.
import { describe, expect, it } from "vitest";
import { eventStoreUrlProblem, USER_AGGREGATE_SQL } from "../../../src/experiment/event-store.js";

describe("event store URL", () => {
  it("accepts postgres:// and postgresql:// URLs with a host", () => {
    expect(eventStoreUrlProblem("postgres://u:p@db.example:5432/events", "--x")).toBeUndefined();
    expect(eventStoreUrlProblem("postgresql://u@10.0.0.1/events?sslmode=require", "--x")).toBeUndefined();
  });

  it.each([
    ["not a url", /--event-store-url-file f is not a URL/],
    ["mysql://u@h/db", /--event-store-url-file f must be a postgres:\/\/ or postgresql:\/\/ URL, not mysql:/],
    ["postgres:///db", /--event-store-url-file f names no host/],
  ])("refuses %s, naming the flag", (url, message) => {
    expect(eventStoreUrlProblem(url, "--event-store-url-file f")).toMatch(message);
  });
});

describe("per-user aggregate", () => {
  it("is plain SQL: no upsert, no PostgreSQL casts or DISTINCT ON, no join", () => {
    for (const construct of [/ON CONFLICT/i, /::/, /DISTINCT ON/i, /\bJOIN\b/i, /FILTER\s*\(/i]) {
      expect(USER_AGGREGATE_SQL).not.toMatch(construct);
    }
  });
});
