/**
 * A better-sqlite3 database for Kysely's SqliteDialect that keeps the last
 * few prepared statements by SQL text.
 *
 * Kysely's SQLite driver calls `db.prepare(sql)` for every query: each call
 * compiles the SQL again (~45 µs for one of our inserts or selects, measured
 * on the shared benchmark machine) and leaves a statement whose native SQLite memory is released only
 * when V8 collects its small JS wrapper, so dead statements pile up between
 * collections. A turn runs the same couple of dozen statements every time,
 * so a small LRU serves nearly all of them.
 */
import type { Database as BetterSqlite3Database, Statement } from "better-sqlite3";
import type { SqliteDatabase, SqliteStatement } from "kysely";

const DEFAULT_CAPACITY = 64;

export class StatementCachingDatabase implements SqliteDatabase {
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: BetterSqlite3Database,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  prepare(sql: string): SqliteStatement {
    const cached = this.statements.get(sql);
    // A statement still iterating (a streamed select) cannot run again until it finishes.
    if (cached && !cached.busy) {
      // Re-insert: Map order is the LRU order.
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    const statement = this.db.prepare(sql);
    if (cached) return statement;
    this.statements.set(sql, statement);
    if (this.statements.size > this.capacity) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    return statement;
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }
}
