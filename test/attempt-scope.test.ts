/**
 * withAttemptSignal's link between a request's signal and the attempt's must
 * end with the attempt: Node 20 keeps an `AbortSignal.any` composite with an
 * abort listener alive until the listener is removed, so a link left behind
 * retains a turn per call for the life of the process.
 */
import { describe, expect, it } from "vitest";
import { currentAttempt, runInAttempt, withAttemptSignal, type Attempt } from "../src/resilience/attempt-scope.js";

function attempt(): Attempt & { controller: AbortController } {
  const controller = new AbortController();
  return { controller, signal: controller.signal, activity: () => undefined };
}

describe("withAttemptSignal", () => {
  it("follows the request's signal and the attempt's while the attempt runs", async () => {
    const request = new AbortController();
    const a = attempt();
    await runInAttempt(a, async () => {
      const signal = withAttemptSignal(AbortSignal.any([request.signal]));
      request.abort(new Error("caller"));
      expect(signal?.aborted).toBe(true);
      expect((signal?.reason as Error).message).toBe("caller");
    });
    const b = attempt();
    await runInAttempt(b, async () => {
      const signal = withAttemptSignal(new AbortController().signal);
      b.controller.abort(new Error("timeout"));
      expect((signal?.reason as Error).message).toBe("timeout");
    });
  });

  it("releases its listeners when the attempt ends, even if it threw", async () => {
    const request = new AbortController();
    let signal: AbortSignal | undefined;
    await expect(
      runInAttempt(attempt(), async () => {
        signal = withAttemptSignal(AbortSignal.any([request.signal]));
        throw new Error("model failed");
      }),
    ).rejects.toThrow("model failed");
    request.abort();
    expect(signal?.aborted).toBe(false);
  });

  it("is the plain signal outside an attempt, and the attempt's when there is no other", async () => {
    const request = new AbortController();
    expect(withAttemptSignal(request.signal)).toBe(request.signal);
    expect(currentAttempt()).toBeUndefined();
    const a = attempt();
    await runInAttempt(a, async () => {
      expect(withAttemptSignal(undefined)).toBe(a.signal);
      expect(currentAttempt()).toBe(a);
    });
  });
});
