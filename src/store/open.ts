/** Opens the store a database URL names. */
import { openSqliteStore, parseDatabaseUrl } from "./sqlite.js";
import type { Store } from "./store.js";

export async function openStore(url: string): Promise<Store> {
  const parsed = parseDatabaseUrl(url);
  return openSqliteStore(parsed.path);
}
