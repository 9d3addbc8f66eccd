/**
 * The deployment files agree with the app and with each other: the Kubernetes manifests (ports,
 * probes, the one-SQLite-writer rule, shutdown timing), the Dockerfile (statically: there is no
 * Docker engine in CI), the Dockerfile's HEALTHCHECK script (for real, against the running app),
 * and scripts/backup.ts (a real online backup of a WAL database that is still open).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromBinary, create, toBinary } from "@bufbuild/protobuf";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";
import { ConversationService } from "../gen/parley/v1/conversation_service_pb.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { grpc, startTestServer, type TestServer } from "./helpers/server.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const K8S = join(ROOT, "deploy/kubernetes");
const DEFAULTS = loadConfig({});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The manifests' shapes, as far as these tests read them. */
interface Meta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Meta;
}
interface ConfigMap extends Manifest {
  data: Record<string, string>;
}
interface Secret extends Manifest {
  stringData: Record<string, string>;
}
interface GrpcProbe {
  grpc?: { port: number; service?: string };
  httpGet?: unknown;
  tcpSocket?: unknown;
  exec?: unknown;
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number; protocol?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; value?: string }[];
  startupProbe?: GrpcProbe;
  livenessProbe?: GrpcProbe;
  readinessProbe?: GrpcProbe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; runAsUser?: number };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Deployment extends Manifest {
  spec: {
    replicas: number;
    strategy: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: Meta;
      spec: {
        terminationGracePeriodSeconds: number;
        enableServiceLinks?: boolean;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
        containers: Container[];
        volumes: { name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: unknown }[];
      };
    };
  };
}
interface Service extends Manifest {
  spec: {
    type?: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: number | string; appProtocol?: string }[];
  };
}
interface Pvc extends Manifest {
  spec: { accessModes: string[]; resources: { requests: { storage: string } } };
}
interface Pdb extends Manifest {
  spec: { maxUnavailable?: number | string; minAvailable?: number | string; selector: { matchLabels: Record<string, string> } };
}
interface Hpa extends Manifest {
  spec: { scaleTargetRef: { apiVersion: string; kind: string; name: string }; minReplicas: number; maxReplicas: number };
}
interface Kustomization {
  apiVersion: string;
  kind: string;
  resources: string[];
}

/** Parses one manifest file: exactly one YAML document, without errors or warnings. */
function manifest<T>(file: string): T {
  const docs = parseAllDocuments(readFileSync(join(K8S, file), "utf8"));
  if (!Array.isArray(docs)) throw new Error(`${file}: no YAML document`);
  expect(docs, `${file}: one document`).toHaveLength(1);
  const doc = docs[0]!;
  expect(doc.errors.map((e) => e.message), `${file}: YAML errors`).toEqual([]);
  expect(doc.warnings.map((e) => e.message), `${file}: YAML warnings`).toEqual([]);
  return doc.toJS() as T;
}

/** The variable names of src/config.ts's zod schema, read from its source. */
function configVariables(): Set<string> {
  const src = readFileSync(join(ROOT, "src/config.ts"), "utf8");
  const body = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(src)?.[1];
  if (!body) throw new Error("envSchema not found in src/config.ts");
  return new Set([...body.matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
}

interface Instruction {
  name: string;
  args: string;
}
interface Stage {
  image: string;
  alias: string | undefined;
  instructions: Instruction[];
}

/**
 * A Dockerfile reader for what ours uses: `#` comment lines (parser directives are comments
 * too), `\` line continuations, one instruction per logical line.
 */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === "")) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    logical.push(pending + line);
    pending = "";
  }
  expect(pending, "a line continuation runs past the end of the Dockerfile").toBe("");
  const stages: Stage[] = [];
  for (const l of logical) {
    if (l === "") continue;
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(l);
    if (!m) throw new Error(`unreadable Dockerfile line: ${l}`);
    const name = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (name === "FROM") {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`unreadable FROM: ${args}`);
      stages.push({ image: from[1]!, alias: from[2], instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${name} before the first FROM`);
      stage.instructions.push({ name, args });
    }
  }
  return stages;
}

/** Exec form (a JSON array of strings), or a failure. */
function execForm(args: string): string[] {
  expect(args.startsWith("["), `not exec form: ${args}`).toBe(true);
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed) && parsed.every((a) => typeof a === "string"), `not a JSON array of strings: ${args}`).toBe(true);
  return parsed as string[];
}

function all(stage: Stage, name: string): string[] {
  return stage.instructions.filter((i) => i.name === name).map((i) => i.args);
}

function one(stage: Stage, name: string): string {
  const found = all(stage, name);
  expect(found, `${name} in stage ${stage.alias ?? stage.image}`).toHaveLength(1);
  return found[0]!;
}

/** `ENV A=1 B=2` (our form: no quotes, no spaces in values). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of all(stage, "ENV")) {
    for (const token of args.split(/\s+/)) {
      const eq = token.indexOf("=");
      expect(eq, `ENV token without "=": ${token}`).toBeGreaterThan(0);
      env[token.slice(0, eq)] = token.slice(eq + 1);
    }
  }
  return env;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (the app under test runs in this process). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A loopback port nobody listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolvePromise(port));
    });
  });
}

// ---------------------------------------------------------------------------
// The files, parsed once
// ---------------------------------------------------------------------------

const configMap = manifest<ConfigMap>("configmap.yaml");
const secret = manifest<Secret>("secret.yaml");
const deployment = manifest<Deployment>("deployment.yaml");
const service = manifest<Service>("service.yaml");
const pvc = manifest<Pvc>("pvc.yaml");
const pdb = manifest<Pdb>("pdb.yaml");
const hpa = manifest<Hpa>("hpa.yaml");
const kustomization = manifest<Kustomization>("kustomization.yaml");

const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const portNamed = (name: string) => container.ports.find((p) => p.name === name)?.containerPort;

const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const build = stages[0]!;

/** The HEALTHCHECK's `node -e` script, as Docker would run it. */
function healthcheck(): { options: string; argv: string[] } {
  const m = /^((?:--\S+\s+)*)CMD\s+([\s\S]+)$/.exec(one(runtime, "HEALTHCHECK"));
  if (!m) throw new Error("HEALTHCHECK is not of the form [OPTIONS] CMD [...]");
  return { options: m[1]!, argv: execForm(m[2]!) };
}

/** A valid key list standing in for the Secret's placeholder. */
const REAL_KEYS = "0123456789abcdef0123=acme,fedcba9876543210fedc=ops:admin";

// ---------------------------------------------------------------------------
// Kubernetes manifests
// ---------------------------------------------------------------------------

describe("Kubernetes manifests", () => {
  it("kustomization.yaml lists every manifest in deploy/kubernetes", () => {
    expect(kustomization.kind).toBe("Kustomization");
    const files = readdirSync(K8S).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    for (const m of [configMap, secret, deployment, service, pvc, pdb, hpa]) expect(m.metadata.name).toMatch(/^parley/);
  });

  it("the probes, the container port, the Service and the ConfigMap use the app's port", () => {
    const appPort = DEFAULTS.port;
    expect(appPort).toBe(50051);
    expect(Number(configMap.data.PARLEY_PORT)).toBe(appPort);
    expect(loadConfig({ ...configMap.data, PARLEY_API_KEYS: REAL_KEYS }).port).toBe(appPort);
    expect(portNamed("grpc")).toBe(appPort);

    const probes = { startupProbe: container.startupProbe, livenessProbe: container.livenessProbe, readinessProbe: container.readinessProbe };
    expect(container.livenessProbe, "livenessProbe").toBeDefined();
    expect(container.readinessProbe, "readinessProbe").toBeDefined();
    for (const [kind, probe] of Object.entries(probes)) {
      if (!probe) continue;
      expect(probe.grpc, `${kind} is a gRPC probe`).toBeDefined();
      expect(probe.grpc!.port, `${kind} port`).toBe(appPort);
    }

    const grpcPort = service.spec.ports.find((p) => p.name === "grpc");
    expect(grpcPort).toMatchObject({ port: appPort, appProtocol: "kubernetes.io/h2c" });
    expect([appPort, "grpc"]).toContain(grpcPort!.targetPort);
    expect(service.spec.type ?? "ClusterIP").toBe("ClusterIP");
  });

  it("metrics: the container port, the Service, the scrape annotations and the ConfigMap agree", () => {
    const metricsPort = Number(configMap.data.PARLEY_METRICS_PORT);
    expect(metricsPort).toBe(9464);
    expect(portNamed("metrics")).toBe(metricsPort);
    expect(metricsPort).not.toBe(DEFAULTS.port);
    const annotations = deployment.spec.template.metadata.annotations ?? {};
    expect(annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": String(metricsPort), "prometheus.io/path": "/metrics" });
    const svc = service.spec.ports.find((p) => p.name === "metrics");
    expect(svc?.port).toBe(metricsPort);
    expect([metricsPort, "metrics"]).toContain(svc!.targetPort);
  });

  it("readiness asks for parley.v1.ConversationService, liveness for the whole server", () => {
    expect(ConversationService.typeName).toBe("parley.v1.ConversationService");
    expect(container.readinessProbe!.grpc!.service).toBe(ConversationService.typeName);
    expect(container.livenessProbe!.grpc!.service ?? "").toBe("");
    // Whether the app really serves these names is checked against the running app below.
  });

  it("the pod outlives the shutdown grace: terminationGracePeriodSeconds > PARLEY_SHUTDOWN_GRACE_MS", () => {
    const raw = configMap.data.PARLEY_SHUTDOWN_GRACE_MS;
    expect(raw, "PARLEY_SHUTDOWN_GRACE_MS in the ConfigMap").toMatch(/^\d+$/);
    const graceMs = Number(raw);
    // At least 5 s to store the cut-short runs, close connections and flush telemetry.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(graceMs + 5000);
    expect(pod.terminationGracePeriodSeconds).toBe(35);

    // Once src/config.ts knows the variable (a bad value then stops start-up), the ConfigMap's
    // value must be accepted and be the one the app uses.
    let known = false;
    try {
      loadConfig({ PARLEY_SHUTDOWN_GRACE_MS: "not-a-number" });
    } catch (err) {
      known = err instanceof ConfigError && /PARLEY_SHUTDOWN_GRACE_MS/.test(err.message);
    }
    if (known) {
      const config = loadConfig({ ...configMap.data, PARLEY_API_KEYS: REAL_KEYS }) as unknown as Record<string, unknown>;
      if ("shutdownGraceMs" in config) expect(config.shutdownGraceMs).toBe(graceMs);
    }
  });

  it("the ConfigMap and the Secret hold only variables Parley reads, and load once the placeholder is replaced", () => {
    const known = new Set([...configVariables(), "PARLEY_SHUTDOWN_GRACE_MS", "PARLEY_METRICS_PORT"]);
    for (const key of [...Object.keys(configMap.data), ...Object.keys(secret.stringData)]) {
      expect(known, `unknown variable ${key}`).toContain(key);
    }
    for (const value of Object.values(configMap.data)) expect(typeof value, "ConfigMap values are strings").toBe("string");
    expect(configMap.data.PARLEY_HOST).toBe("0.0.0.0");
    expect(Object.keys(configMap.data)).not.toContain("PARLEY_API_KEYS");
    expect(Object.keys(configMap.data)).not.toContain("OPENAI_API_KEY");
    expect(Object.keys(secret.stringData)).toEqual(expect.arrayContaining(["PARLEY_API_KEYS", "OPENAI_API_KEY"]));

    // The template's placeholder must not start a server on 0.0.0.0 (fail closed, naming the variable).
    const env = { ...configMap.data, ...secret.stringData };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/PARLEY_API_KEYS/);
    // With real keys the same settings load; an empty OPENAI_API_KEY keeps the offline model.
    const config = loadConfig({ ...env, PARLEY_API_KEYS: REAL_KEYS });
    expect(config).toMatchObject({ host: "0.0.0.0", port: 50051, databaseUrl: "sqlite:/app/data/parley.db", provider: "offline", auth: "keys" });
    expect(config.apiKeys.map((k) => [k.tenant, k.admin])).toEqual([["acme", false], ["ops", true]]);

    const refs = container.envFrom ?? [];
    expect(refs.some((r) => r.configMapRef?.name === configMap.metadata.name)).toBe(true);
    expect(refs.some((r) => r.secretRef?.name === secret.metadata.name)).toBe(true);
  });

  it("one SQLite writer: 1 replica, Recreate, a ReadWriteOnce claim mounted where the database lives", () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe("Recreate");
    expect(readFileSync(join(K8S, "deployment.yaml"), "utf8")).toMatch(/ONE replica[\s\S]*SQLite/);

    expect(pvc.kind).toBe("PersistentVolumeClaim");
    expect(pvc.spec.accessModes).toEqual(["ReadWriteOnce"]);
    const volume = pod.volumes.find((v) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
    expect(volume, "a volume from the PersistentVolumeClaim").toBeDefined();
    const mount = container.volumeMounts?.find((m) => m.name === volume!.name);
    const dbPath = configMap.data.PARLEY_DATABASE_URL!.replace(/^sqlite:/, "");
    expect(posix.isAbsolute(dbPath)).toBe(true);
    expect(mount?.mountPath).toBe(posix.dirname(dbPath));

    // The autoscaler cannot add a second writer; the budget lets node drains evict the one pod.
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: deployment.metadata.name });
    expect(hpa.spec).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
    expect(pdb.apiVersion).toBe("policy/v1");
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeUndefined();
  });

  it("selectors match the pod's labels", () => {
    const labels = deployment.spec.template.metadata.labels ?? {};
    for (const [what, selector] of [
      ["Deployment", deployment.spec.selector.matchLabels],
      ["Service", service.spec.selector],
      ["PodDisruptionBudget", pdb.spec.selector.matchLabels],
    ] as const) {
      expect(Object.keys(selector).length, `${what} selector`).toBeGreaterThan(0);
      expect(labels, `${what} selector`).toMatchObject(selector);
    }
  });

  it("the pod runs as non-root with a read-only root filesystem, limits, and no service-link variables", () => {
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    // USER node in the image is a name; the kubelet can only verify a numeric id as non-root.
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    // A Service named "parley" would inject PARLEY_PORT=tcp://... into the environment.
    expect(pod.enableServiceLinks).toBe(false);
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources?.limits).toMatchObject({ memory: expect.any(String) });
  });
});

// ---------------------------------------------------------------------------
// Dockerfile (static: no Docker engine here)
// ---------------------------------------------------------------------------

describe("Dockerfile", () => {
  it("is multi-stage on Node 20 or newer", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) {
      const major = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(stage.image)?.[1];
      expect(major, `FROM ${stage.image}`).toBeDefined();
      expect(Number(major)).toBeGreaterThanOrEqual(20);
    }
    expect(new Set(stages.map((s) => s.image)).size, "build and runtime on the same base (native module ABI)").toBe(1);
  });

  it("builds in the first stage: toolchain, npm ci, npm run build, dev dependencies dropped", () => {
    const runs = all(build, "RUN").join("\n");
    for (const tool of ["python3", "make", "g++"]) expect(runs).toContain(tool);
    expect(runs).toMatch(/\bnpm ci\b/);
    expect(runs).toMatch(/\bnpm run build\b/);
    expect(runs).toMatch(/npm prune --omit=dev|npm ci --omit=dev/);
    // Everything the build copies exists and is not excluded by .dockerignore.
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    for (const copy of all(build, "COPY")) {
      const parts = copy.split(/\s+/).filter((p) => !p.startsWith("--"));
      for (const src of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
        expect(ignored, `COPY ${src} is in .dockerignore`).not.toContain(src);
      }
    }
    // The CMD's entry point is what the build emits: tsconfig.build.json compiles src/main.ts
    // with rootDir "." into dist/.
    const tsconfig = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")) as { compilerOptions: { rootDir?: string }; include: string[] };
    expect(tsconfig.compilerOptions.rootDir).toBe(".");
    expect(tsconfig.include).toEqual(expect.arrayContaining(["src", "gen"]));
    expect(existsSync(join(ROOT, "src/main.ts"))).toBe(true);
  });

  it("runs production files only, as the non-root node user, with the signal reaching node", () => {
    expect(one(runtime, "WORKDIR")).toBe("/app");
    const users = all(runtime, "USER");
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.split(":")[0]!;
    expect(["root", "0"]).not.toContain(user);
    expect(user).toBe("node");

    const copies = all(runtime, "COPY").join("\n");
    expect(copies).toMatch(/--from=build\s+\/app\/node_modules\s/);
    expect(copies).toMatch(/--from=build\s+\/app\/dist\s/);
    expect(copies).toMatch(/\bpackage\.json\b/);
    expect(all(runtime, "RUN").join("\n"), "no build toolchain in the runtime image").not.toMatch(/g\+\+|python3|npm (ci|install)/);

    const env = envOf(runtime);
    expect(env).toMatchObject({ PARLEY_HOST: "0.0.0.0", NODE_ENV: "production" });
    expect(env.PARLEY_DATABASE_URL ?? DEFAULTS.databaseUrl).toMatch(/^sqlite:(\/app\/|\.\/)data\//);
    expect(all(runtime, "VOLUME").join(" ")).toContain("/app/data");
    expect(all(runtime, "RUN").join("\n")).toMatch(/chown[^\n]*node[^\n]*\/app\/data/);

    expect(one(runtime, "STOPSIGNAL")).toBe("SIGTERM");
    expect(execForm(one(runtime, "CMD"))).toEqual(["node", "dist/src/main.js"]);
  });

  it("exposes the app's port and the metrics port, the same ones the manifests use", () => {
    const exposed = all(runtime, "EXPOSE").flatMap((a) => a.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, "")));
    expect(exposed).toContain(DEFAULTS.port);
    expect(exposed).toContain(portNamed("grpc"));
    expect(exposed).toContain(Number(configMap.data.PARLEY_METRICS_PORT));
    const env = envOf(runtime);
    if (env.PARLEY_PORT) expect(Number(env.PARLEY_PORT)).toBe(DEFAULTS.port);
    if (env.PARLEY_METRICS_PORT) expect(env.PARLEY_METRICS_PORT).toBe(configMap.data.PARLEY_METRICS_PORT);
  });

  it("has a HEALTHCHECK in exec form running an inline node script", () => {
    const { options, argv } = healthcheck();
    expect(argv.slice(0, 2)).toEqual(["node", "-e"]);
    expect(argv[2]).toContain("/grpc.health.v1.Health/Check");
    expect(argv[2]).toContain("deadline");
    expect(options).toMatch(/--timeout=\d+s/);
    expect(options).toMatch(/--interval=\d+s/);
  });

  it(".dockerignore keeps local state out of the build context", () => {
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
    for (const entry of ["node_modules", "data", "dist", ".git", "bench/results"]) expect(ignored).toContain(entry);
  });
});

describe("docs/operations.md", () => {
  const doc = readFileSync(join(ROOT, "docs/operations.md"), "utf8");

  it("has a settings table row for every variable src/config.ts reads", () => {
    const rows = new Set([...doc.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!));
    const missing = [...configVariables(), "PARLEY_SHUTDOWN_GRACE_MS", "PARLEY_METRICS_PORT"].filter((v) => !rows.has(v));
    expect(missing, "variables without a row in docs/operations.md").toEqual([]);
  });

  it("keeps a Metrics section and states the one-writer rule", () => {
    expect(doc).toMatch(/^## Metrics$/m);
    expect(doc).toMatch(/exactly \*\*one\*\* Parley process may/);
  });
});

// ---------------------------------------------------------------------------
// The HEALTHCHECK script and the health names, against the running app
// ---------------------------------------------------------------------------

describe("HEALTHCHECK script against the running app", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close(true);
  });

  /** Runs the HEALTHCHECK command exactly as written, with the container's PARLEY_PORT. */
  const probe = (port: number) => {
    const [cmd, ...args] = healthcheck().argv;
    expect(cmd).toBe("node");
    return run(process.execPath, args, { ...process.env, PARLEY_PORT: String(port) });
  };

  /** grpc.health.v1.Health/Check with a service name, over native gRPC. */
  const check = (service: string) =>
    new Promise<ServingStatus>((resolvePromise, reject) => {
      const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
      client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        (req: { service: string }) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, req))),
        (buf: Buffer) => fromBinary(HealthCheckResponseSchema, buf),
        { service },
        { deadline: Date.now() + 5000 },
        (err, res) => {
          client.close();
          if (err || !res) reject(err ?? new Error("no response"));
          else resolvePromise(res.status);
        },
      );
    });

  it("the app serves the names the probes ask for: \"\" and the readiness probe's service", async () => {
    expect(await check("")).toBe(ServingStatus.SERVING);
    expect(await check(container.readinessProbe!.grpc!.service!)).toBe(ServingStatus.SERVING);
    expect(server.app.health.get(ConversationService.typeName)).toBe(ServingStatus.SERVING);
  });

  it("exits 0 while the server is SERVING", async () => {
    const result = await probe(server.app.address.port);
    expect(result, result.stderr).toMatchObject({ code: 0 });
  });

  it("exits non-zero when nothing listens on the port", async () => {
    const result = await probe(await closedPort());
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
  });

  it("exits non-zero once the server reports NOT_SERVING (draining)", async () => {
    server.app.health.shutdown();
    expect(await check("")).toBe(ServingStatus.NOT_SERVING);
    const result = await probe(server.app.address.port);
    expect(result.code).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// scripts/backup.ts
// ---------------------------------------------------------------------------

describe("npm run backup (scripts/backup.ts)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "parley-backup-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const backup = (args: string[], env: Record<string, string> = {}) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!("PARLEY_DATABASE_URL" in env)) delete childEnv.PARLEY_DATABASE_URL;
    return run(process.execPath, ["--import", "tsx", "scripts/backup.ts", ...args], childEnv, 30_000);
  };

  it("is the package's backup script", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.backup).toBe("tsx scripts/backup.ts");
  });

  it("copies a WAL database online, while it is open, including rows only in the -wal file", { timeout: 60_000 }, async () => {
    const src = join(dir, "live.db");
    const db = new BetterSqlite3(src);
    try {
      expect(db.pragma("journal_mode = WAL", { simple: true })).toBe("wal");
      db.pragma("wal_autocheckpoint = 0"); // keep the writes in the -wal file
      db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
      db.prepare("INSERT INTO notes (body) VALUES (?)").run("written before the backup");
      expect(statSync(`${src}-wal`).size).toBeGreaterThan(0);

      // Source from PARLEY_DATABASE_URL, destination in a directory that does not exist yet.
      const dest = join(dir, "out", "backup-1.db");
      const first = await backup([dest], { PARLEY_DATABASE_URL: `sqlite:${src}` });
      expect(first, first.stderr).toMatchObject({ code: 0 });
      expect(first.stdout).toContain(src);
      expect(first.stdout).toContain(dest);
      expect(first.stdout).toMatch(/quick_check ok/);

      // The source is still open and writable.
      db.prepare("INSERT INTO notes (body) VALUES (?)").run("written after the backup");

      const copy = new BetterSqlite3(dest, { readonly: true, fileMustExist: true });
      try {
        expect(copy.prepare("SELECT body FROM notes ORDER BY id").all()).toEqual([{ body: "written before the backup" }]);
      } finally {
        copy.close();
      }

      // --from (a plain path) wins over PARLEY_DATABASE_URL; an existing file needs --force.
      const again = await backup(["--from", src, dest], { PARLEY_DATABASE_URL: "sqlite::memory:" });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/already exists.*--force/);
      const forced = await backup(["--force", `--from=sqlite:${src}`, dest], { PARLEY_DATABASE_URL: "sqlite::memory:" });
      expect(forced, forced.stderr).toMatchObject({ code: 0 });
      const copy2 = new BetterSqlite3(dest, { readonly: true, fileMustExist: true });
      try {
        expect(copy2.prepare("SELECT count(*) AS n FROM notes").get()).toEqual({ n: 2 });
      } finally {
        copy2.close();
      }
    } finally {
      db.close();
    }
  });

  it("fails clearly: no destination, a missing database, an in-memory database, the database itself", { timeout: 60_000 }, async () => {
    const usage = await backup([]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing the destination file[\s\S]*usage:/);

    const missing = join(dir, "nope.db");
    const none = await backup(["--from", missing, join(dir, "x.db")]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no database at ${missing}`);
    expect(existsSync(missing), "does not create the source").toBe(false);

    const memory = await backup([join(dir, "y.db")], { PARLEY_DATABASE_URL: "sqlite::memory:" });
    expect(memory.code).toBe(1);
    expect(memory.stderr).toMatch(/in memory/);

    const self = join(dir, "self.db");
    writeFileSync(self, "");
    const same = await backup(["--force", "--from", self, self]);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/is the database itself/);
  });
});
