import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import { KyselyStore } from "./kysely-store.js";
import { StatementCachingDatabase } from "./statement-cache.js";
import { CodeMigrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";
import type { Store } from "./store.js";

const MEMORY = ":memory:";

export interface SqliteUrl {
  kind: "sqlite";
  path: string;
}

/**
 * Accepts `sqlite:<relative or absolute path>`, `sqlite:///abs/path.db` and `sqlite::memory:`.
 * Errors name only the scheme, never the whole URL, which may hold a password.
 */
export function parseDatabaseUrl(url: string): SqliteUrl {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new Error('database URL must start with a scheme, e.g. "sqlite:./data/parley.db"');
  }
  if (scheme === "postgres" || scheme === "postgresql") {
    throw new Error("PostgreSQL is not supported yet; use a sqlite: database URL");
  }
  if (scheme !== "sqlite") {
    throw new Error(`unsupported database URL scheme "${scheme}:"; use e.g. "sqlite:./data/parley.db"`);
  }
  let path = url.slice("sqlite:".length);
  // "sqlite:///abs" is the URL form of an absolute path: drop the empty authority.
  if (path.startsWith("//")) path = path.slice(2);
  if (path === "") throw new Error('database URL "sqlite:" has no path, e.g. "sqlite:./data/parley.db"');
  return { kind: "sqlite", path };
}

/** Opens (creating if needed) the SQLite database at path, migrated to the latest schema. */
export async function openSqliteStore(path: string): Promise<Store> {
  if (path !== MEMORY) mkdirSync(dirname(path), { recursive: true });
  const sqlite = new BetterSqlite3(path);
  // WAL lets health checks and reads proceed while a turn writes; NORMAL is durable enough with WAL
  // (a power cut may lose the last commits, never corrupt); busy_timeout waits for another process.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new StatementCachingDatabase(sqlite) }) });
  try {
    await migrate(db, path);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyStore(db);
}

async function migrate(db: Kysely<Database>, path: string): Promise<void> {
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error === undefined) return;
  const failed = results?.find((r) => r.status === "Error")?.migrationName;
  const where = failed === undefined ? "" : ` at migration "${failed}"`;
  const reason = error instanceof Error ? error.message : String(error);
  throw new Error(`migrating the SQLite database ${path} failed${where}: ${reason}`, { cause: error });
}
