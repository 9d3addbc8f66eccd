/**
 * Online backup of Parley's SQLite database, safe while the server runs.
 *
 *   npm run backup -- /backups/parley-$(date +%F).db
 *   npm run backup -- --from sqlite:/app/data/parley.db /backups/parley.db
 *   npm run backup -- --force /backups/parley-latest.db      # overwrite an existing file
 *
 * The source is --from (a `sqlite:` URL or a plain path), else PARLEY_DATABASE_URL, else the
 * server's default (`sqlite:./data/parley.db`). It uses SQLite's online backup API through
 * better-sqlite3's `db.backup()`: it copies a consistent snapshot including what is still only
 * in the -wal file, and lets the server keep writing while it runs (no file copy of a live
 * database, which can tear). The result is one self-contained file, checked with
 * `PRAGMA quick_check`.
 *
 * Exit codes: 0 done, 1 the backup failed, 2 bad arguments.
 */
import { existsSync, mkdirSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { loadConfig } from "../src/config.js";
import { parseDatabaseUrl } from "../src/store/sqlite.js";

const USAGE = `usage: npm run backup -- [--from <sqlite:url|path>] [--force] <destination file>

  Copies the SQLite database online (safe while the server runs) to <destination file>.
  --from    the database to back up (default: PARLEY_DATABASE_URL, else sqlite:./data/parley.db)
  --force   overwrite <destination file> if it exists`;

class UsageError extends Error {}

interface Options {
  from: string;
  to: string;
  force: boolean;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Options | "help" {
  let from: string | undefined;
  let force = false;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h" || arg === "--help") return "help";
    if (arg === "--force" || arg === "-f") force = true;
    else if (arg === "--from") {
      from = argv[++i];
      if (from === undefined || from === "") throw new UsageError("--from needs a value (a sqlite: URL or a path)");
    } else if (arg.startsWith("--from=")) from = arg.slice("--from=".length);
    else if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length === 0) throw new UsageError("missing the destination file");
  if (positional.length > 1) throw new UsageError(`one destination only, got ${positional.length}: ${positional.join(" ")}`);
  return {
    from: from ?? env.PARLEY_DATABASE_URL ?? loadConfig({}).databaseUrl,
    to: positional[0] as string,
    force,
  };
}

/** A `sqlite:` URL or a plain path, to an absolute file path. */
function sourcePath(from: string): string {
  const path = from.startsWith("sqlite:") ? parseDatabaseUrl(from).path : from;
  if (path === ":memory:") throw new Error("the database is in memory (sqlite::memory:): there is no file to back up");
  return resolve(path);
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

async function backup(opts: Options): Promise<void> {
  const src = sourcePath(opts.from);
  const dest = resolve(opts.to);
  if (!existsSync(src)) throw new Error(`no database at ${src} (set --from or PARLEY_DATABASE_URL)`);
  if (!statSync(src).isFile()) throw new Error(`${src} is not a file`);
  if (existsSync(dest)) {
    if (realpathSync(dest) === realpathSync(src)) throw new Error("the destination is the database itself");
    if (!statSync(dest).isFile()) throw new Error(`${dest} exists and is not a file`);
    if (!opts.force) throw new Error(`${dest} already exists (use --force to overwrite it)`);
  }
  mkdirSync(dirname(dest), { recursive: true });

  // Not read-only: a read-only connection cannot always open a WAL database's -shm file.
  // fileMustExist: never create an empty database at a mistyped path.
  const db = new BetterSqlite3(src, { fileMustExist: true });
  const started = performance.now();
  let pages = 0;
  try {
    db.pragma("busy_timeout = 5000");
    const journal = db.pragma("journal_mode", { simple: true }) as string;
    process.stdout.write(`backing up ${src} (journal_mode=${journal}) to ${dest}\n`);
    const result = await db.backup(dest, {
      // Pages per step: the server may write between steps (changes restart the copy of what changed).
      progress: ({ totalPages }) => {
        pages = totalPages;
        return 1000;
      },
    });
    pages = result.totalPages;
  } finally {
    db.close();
  }
  const ms = performance.now() - started;

  // The copy inherits WAL mode; switch it to a rollback journal so the backup is one self-contained
  // file (no -wal/-shm beside it). The server turns WAL back on when it opens a restored file.
  const copy = new BetterSqlite3(dest, { fileMustExist: true });
  let check: string;
  let tables: number;
  try {
    copy.pragma("journal_mode = DELETE");
    check = copy.pragma("quick_check", { simple: true }) as string;
    tables = (copy.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n;
  } finally {
    copy.close();
  }
  if (check !== "ok") throw new Error(`the backup at ${dest} failed its integrity check: ${check}`);
  process.stdout.write(`done: ${pages} pages, ${mib(statSync(dest).size)}, ${tables} tables, quick_check ok, ${Math.round(ms)} ms\n`);
}

async function main(): Promise<number> {
  let opts: Options | "help";
  try {
    opts = parseArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`backup: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    await backup(opts);
    return 0;
  } catch (err) {
    process.stderr.write(`backup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main();
