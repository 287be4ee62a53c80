/** Backoff stays within its bounds and honours Retry-After; which failures are retried. */
import { describe, expect, it } from "vitest";
import { Backoff, parseRetryAfter, retryableCode, retryableStatus } from "../../../src/dest/registry/retry.js";
import { parseChallenge } from "../../../src/dest/registry/token.js";

describe("retry policy", () => {
  it("retries 408, 429 and 5xx but not 501, 4xx or success", () => {
    expect([408, 429, 500, 502, 503, 504].every(retryableStatus)).toBe(true);
    expect([200, 201, 400, 401, 403, 404, 416, 501].some(retryableStatus)).toBe(false);
    expect(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT"].every(retryableCode)).toBe(true);
    expect(retryableCode("DEPTH_ZERO_SELF_SIGNED_CERT")).toBe(false);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2024-01-01T00:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("Mon, 01 Jan 2024 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it("doubles with jitter, caps each wait, and stops at the attempt count or the time budget", () => {
    const b = new Backoff({ attempts: 5, baseMs: 100, maxDelayMs: 300, budgetMs: 10_000 });
    const waits = [b.next(), b.next(), b.next(), b.next()];
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(100);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits.every((w) => w !== undefined && w <= 300)).toBe(true);
    expect(b.next()).toBeUndefined(); // 5 sends: 4 waits, no fifth
    const budget = new Backoff({ attempts: 100, baseMs: 1000, maxDelayMs: 1000, budgetMs: 2500 });
    expect(budget.next(1000)).toBe(1000);
    expect(budget.next(1000)).toBe(1000);
    expect(budget.next(1000)).toBeUndefined();
    expect(new Backoff({ attempts: 3, baseMs: 10, maxDelayMs: 500, budgetMs: 10_000 }).next(60_000)).toBe(500);
  });

  it("parses WWW-Authenticate challenges with quoted commas", () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope"')).toEqual({
      scheme: "bearer", params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a/b:pull,push", error: "insufficient_scope" },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: "basic", params: { realm: "x" } });
    expect(parseChallenge("Negotiate abc")).toBeUndefined();
  });
});
