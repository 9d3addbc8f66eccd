/** Start-up configuration: the secure defaults and clear errors. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseApiKeys } from "../src/config.js";

describe("configuration", () => {
  it("defaults to loopback, port 50051, SQLite under ./data and the offline model", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ host: "127.0.0.1", port: 50051, databaseUrl: "sqlite:./data/parley.db", provider: "offline", offlineTokenDelayMs: 15 });
  });

  it("takes a variable set to nothing as not set, as compose files and ConfigMaps write it", () => {
    const c = loadConfig({ PARLEY_PORT: "", PARLEY_DATABASE_URL: " ", PARLEY_PROVIDER: "", OPENAI_API_KEY: "" });
    expect(c).toMatchObject({ port: 50051, databaseUrl: "sqlite:./data/parley.db", provider: "offline" });
    // Not a way around the key check: empty keys are no keys.
    expect(() => loadConfig({ PARLEY_HOST: "0.0.0.0", PARLEY_API_KEYS: "" })).toThrow(ConfigError);
  });

  it("refuses a non-loopback bind without API keys, unless PARLEY_AUTH=none", () => {
    expect(() => loadConfig({ PARLEY_HOST: "0.0.0.0" })).toThrow(ConfigError);
    expect(() => loadConfig({ PARLEY_HOST: "0.0.0.0" })).toThrow(/PARLEY_AUTH=none/);
    expect(loadConfig({ PARLEY_HOST: "0.0.0.0", PARLEY_AUTH: "none" }).auth).toBe("none");
    expect(loadConfig({ PARLEY_HOST: "0.0.0.0", PARLEY_API_KEYS: "abcdefgh1=t" }).apiKeys).toHaveLength(1);
    expect(loadConfig({ PARLEY_HOST: "::1" }).host).toBe("::1");
  });

  it("picks the provider from PARLEY_PROVIDER, else from the OpenAI variables", () => {
    expect(loadConfig({ OPENAI_API_KEY: "sk-x" }).provider).toBe("openai");
    expect(loadConfig({ OPENAI_BASE_URL: "http://127.0.0.1:8000/v1" }).provider).toBe("openai");
    expect(loadConfig({ OPENAI_API_KEY: "sk-x", PARLEY_PROVIDER: "offline" }).provider).toBe("offline");
    expect(() => loadConfig({ PARLEY_PROVIDER: "openai" })).toThrow(/OPENAI_API_KEY/);
  });

  it("parses keys with tenants and the admin role, and never echoes a key in an error", () => {
    expect(parseApiKeys("k1-abcdef=alpha, k2-abcdef=beta:admin\n# comment\n")).toEqual([
      { key: "k1-abcdef", tenant: "alpha", admin: false },
      { key: "k2-abcdef", tenant: "beta", admin: true },
    ]);
    for (const bad of ["supersecret-key", "supersecret-key=", "supersecret-key=bad tenant", "supersecret-key=t:root", "short=t"]) {
      expect(() => parseApiKeys(bad)).toThrow(ConfigError);
      try {
        parseApiKeys(bad);
      } catch (e) {
        expect((e as Error).message).not.toContain("supersecret");
      }
    }
  });

  it("names the variable of a bad value", () => {
    expect(() => loadConfig({ PARLEY_PORT: "70000" })).toThrow(/PARLEY_PORT/);
    expect(() => loadConfig({ PARLEY_OFFLINE_TOKEN_DELAY_MS: "-1" })).toThrow(/PARLEY_OFFLINE_TOKEN_DELAY_MS/);
    expect(() => loadConfig({ PARLEY_AUTH: "maybe" })).toThrow(/PARLEY_AUTH/);
  });
});
