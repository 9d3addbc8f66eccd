/**
 * better-sqlite3 behind Kysely with its statements kept. Kysely's SQLite
 * driver calls `prepare()` for every query it runs, and compiling the SQL was
 * the single largest cost of a turn's store work (a turn runs about ten
 * statements of a handful of fixed shapes). Statements are cached by their
 * SQL text, bounded, least recently used out first.
 */
import type { Database as BetterSqliteDatabase, Statement } from "better-sqlite3";
import type { SqliteDatabase, SqliteStatement } from "kysely";

const DEFAULT_MAX_STATEMENTS = 128;

export function withStatementCache(db: BetterSqliteDatabase, maxStatements = DEFAULT_MAX_STATEMENTS): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  const wrap = (sql: string, stmt: Statement): SqliteStatement => ({
    reader: stmt.reader,
    all: (parameters) => stmt.all(...parameters),
    run: (parameters) => stmt.run(...parameters),
    // An iterating statement is busy until the iterator ends; a shared one could be asked for
    // again meanwhile, so a streamed query gets a statement of its own.
    iterate: (parameters) => db.prepare(sql).iterate(...parameters),
  });
  return {
    prepare(sql) {
      let stmt = cache.get(sql);
      if (stmt !== undefined) {
        // Re-inserted so the Map's order is recency order.
        cache.delete(sql);
      } else {
        stmt = wrap(sql, db.prepare(sql));
        if (cache.size >= maxStatements) {
          const oldest = cache.keys().next().value;
          if (oldest !== undefined) cache.delete(oldest);
        }
      }
      cache.set(sql, stmt);
      return stmt;
    },
    close() {
      cache.clear();
      db.close();
    },
  };
}
