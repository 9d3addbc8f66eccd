/** The circuit breaker on its own: both breaker kinds, fail-fast while open, and what it reports. */
import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerOptions } from "../src/resilience/breaker.js";
import { CircuitOpenError } from "../src/resilience/errors.js";

class Upstream503 extends Error {
  status = 503;
}

const base: BreakerOptions = {
  kind: "consecutive",
  failures: 3,
  sampling: { threshold: 0.5, windowMs: 2000, minimumRps: 1 },
  halfOpenMs: 100,
  halfOpenMaxMs: 400,
  successes: 2,
};

const isFailure = (err: unknown) => err instanceof Upstream503;
const signal = new AbortController().signal;
const fail = () => Promise.reject(new Upstream503("503"));
const ok = () => Promise.resolve("ok");

async function settle(p: Promise<unknown>): Promise<unknown> {
  return p.then((v) => v, (e: unknown) => e);
}

describe("circuit breaker", () => {
  it("consecutive: opens after N failures in a row; a success in between resets the count", async () => {
    const b = new CircuitBreaker("model:x", base, isFailure);
    await settle(b.execute(fail, signal));
    await settle(b.execute(fail, signal));
    await b.execute(ok, signal);
    await settle(b.execute(fail, signal));
    await settle(b.execute(fail, signal));
    expect(b.state).toBe("closed");
    await settle(b.execute(fail, signal));
    expect(b.state).toBe("open");
    let called = false;
    const rejected = await settle(b.execute(async () => ((called = true), "x"), signal));
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect(called).toBe(false);
    expect((rejected as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    const snap = b.snapshot();
    expect(snap).toMatchObject({ failedCalls: 5, successfulCalls: 1, rejectedCalls: 1, consecutiveFailures: 3 });
  });

  it("errors that are not failures (a 400, the caller's cancel) neither open nor count", async () => {
    const b = new CircuitBreaker("model:x", base, isFailure);
    for (let i = 0; i < 5; i++) await settle(b.execute(() => Promise.reject(Object.assign(new Error("bad"), { status: 400 })), signal));
    expect(b.state).toBe("closed");
    expect(b.snapshot().failedCalls).toBe(0);
  });

  it("sampling: opens when the failure rate over the window passes the threshold", async () => {
    const b = new CircuitBreaker("model:x", { ...base, kind: "sampling" }, isFailure);
    for (let i = 0; i < 4; i++) await b.execute(ok, signal);
    for (let i = 0; i < 3; i++) await settle(b.execute(fail, signal));
    // 3 of 7 failed: under half.
    expect(b.state).toBe("closed");
    for (let i = 0; i < 3; i++) await settle(b.execute(fail, signal));
    // 6 of 10: over half.
    expect(b.state).toBe("open");
  });
});
