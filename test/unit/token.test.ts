// The one secret comparison behind the Alertmanager webhook's token, the shared evaluator's
// bearer token and the dashboard's login secret.
import { describe, expect, it } from "vitest";
import { tokenMatcher, tokenMatches } from "../../src/token.js";

describe("tokenMatches", () => {
  it("compares whole tokens of any length and never accepts an empty expected token", () => {
    expect(tokenMatches("abc", "abc")).toBe(true);
    expect(tokenMatches("abd", "abc")).toBe(false);
    expect(tokenMatches("abcd", "abc")).toBe(false);
    expect(tokenMatches("ab", "abc")).toBe(false);
    expect(tokenMatches("", "")).toBe(false);
    expect(tokenMatches("x", "")).toBe(false);
  });

  it("gives the same answers through a matcher built once", () => {
    const matches = tokenMatcher("s3cret");
    expect(matches("s3cret")).toBe(true);
    expect(matches("s3cret ")).toBe(false);
    expect(tokenMatcher("")("")).toBe(false);
  });
});
