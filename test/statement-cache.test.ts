import BetterSqlite3 from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { StatementCachingDatabase } from "../src/store/statement-cache.js";

describe("StatementCachingDatabase", () => {
  const open: BetterSqlite3.Database[] = [];
  const db = (capacity?: number) => {
    const raw = new BetterSqlite3(":memory:");
    open.push(raw);
    raw.exec("create table t (x integer)");
    return new StatementCachingDatabase(raw, capacity);
  };
  afterEach(() => {
    for (const raw of open.splice(0)) if (raw.open) raw.close();
  });

  it("hands out the same statement for the same SQL", () => {
    const d = db();
    const insert = d.prepare("insert into t (x) values (?)");
    expect(d.prepare("insert into t (x) values (?)")).toBe(insert);
    insert.run([1]);
    d.prepare("insert into t (x) values (?)").run([2]);
    expect(d.prepare("select x from t order by x").all([])).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it("keeps only the most recently used statements", () => {
    const d = db(2);
    const a = d.prepare("select 1");
    d.prepare("select 2");
    expect(d.prepare("select 1")).toBe(a);
    d.prepare("select 3");
    // "select 2" was the least recently used: evicted.
    const b = d.prepare("select 2");
    expect(d.prepare("select 2")).toBe(b);
    expect(d.prepare("select 1")).not.toBe(a);
  });

  it("prepares a fresh statement while the cached one is still iterating", () => {
    const d = db();
    d.prepare("insert into t (x) values (?)").run([1]);
    d.prepare("insert into t (x) values (?)").run([2]);
    const first = d.prepare("select x from t order by x");
    const outer = first.iterate([]);
    const second = d.prepare("select x from t order by x");
    expect(second).not.toBe(first);
    expect(second.all([])).toEqual([{ x: 1 }, { x: 2 }]);
    expect([...outer]).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it("closes the database", () => {
    const d = db();
    d.prepare("select 1");
    d.close();
    expect(open[0]?.open).toBe(false);
  });
});
