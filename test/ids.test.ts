import { describe, expect, it } from "vitest";
import { validate, version } from "uuid";
import { newId } from "../src/ids.js";

describe("newId", () => {
  it("makes valid UUID v7s that sort in the order they were made, within a millisecond too", () => {
    const ids = Array.from({ length: 20_000 }, newId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 100)) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
    }
    const outOfOrder = ids.findIndex((id, i) => i > 0 && (ids[i - 1] as string) >= id);
    expect(outOfOrder).toBe(-1);
    // 20,000 ids take a few milliseconds at most: many shared one, so the counter was exercised.
    const millis = new Set(ids.map((id) => id.slice(0, 13)));
    expect(millis.size).toBeLessThan(ids.length / 10);
  });
});
