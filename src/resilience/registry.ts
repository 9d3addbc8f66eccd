/**
 * One named policy per dependency (`model:<name>`, `tool:<name>`), built
 * from configuration on first use and kept for the process: health, metrics
 * and AdminService.GetStatus read their state here.
 */
import { bulkhead, type BulkheadPolicy } from "cockatiel";
import { CircuitBreaker, type BreakerOptions, type BreakerSnapshot, type StateChange } from "./breaker.js";
import { ModelPolicy, type ModelPolicyOptions } from "./model-policy.js";
import { isToolFailure, ToolPolicy } from "./tool-policy.js";

export interface ResilienceOptions extends ModelPolicyOptions {
  /** Concurrent model calls, and calls that may wait for a slot. */
  bulkhead: { limit: number; queue: number };
  /** Tools: a breaker that counts timeouts, and the time limit of one call. */
  toolBreaker: BreakerOptions;
  toolTimeoutMs: number;
}

export interface DependencyStatus extends BreakerSnapshot {
  name: string;
  kind: "model" | "tool";
}

export class PolicyRegistry {
  private readonly models = new Map<string, ModelPolicy>();
  private readonly tools = new Map<string, ToolPolicy>();
  readonly bulkhead: BulkheadPolicy;
  private bulkheadRejections = 0;

  constructor(
    private readonly opts: ResilienceOptions,
    private readonly onChange?: (dependency: string, change: StateChange) => void,
  ) {
    this.bulkhead = bulkhead(opts.bulkhead.limit, opts.bulkhead.queue);
    this.bulkhead.onReject(() => this.bulkheadRejections++);
  }

  model(name: string): ModelPolicy {
    let policy = this.models.get(name);
    if (!policy) {
      const dependency = `model:${name}`;
      policy = new ModelPolicy(dependency, this.opts, this.bulkhead, (c) => this.onChange?.(dependency, c));
      this.models.set(name, policy);
    }
    return policy;
  }

  tool(name: string): ToolPolicy {
    let policy = this.tools.get(name);
    if (!policy) {
      const dependency = `tool:${name}`;
      policy = new ToolPolicy(new CircuitBreaker(dependency, this.opts.toolBreaker, isToolFailure, (c) => this.onChange?.(dependency, c)), this.opts.toolTimeoutMs);
      this.tools.set(name, policy);
    }
    return policy;
  }

  /** Whether a new model call would find a slot or a queue place now. */
  get bulkheadFull(): boolean {
    return this.bulkhead.executionSlots === 0 && this.bulkhead.queueSlots === 0;
  }

  get rejectedByBulkhead(): number {
    return this.bulkheadRejections;
  }

  get bulkheadActive(): number {
    return this.opts.bulkhead.limit - this.bulkhead.executionSlots;
  }

  get bulkheadQueued(): number {
    return this.opts.bulkhead.queue - this.bulkhead.queueSlots;
  }

  list(): DependencyStatus[] {
    return [
      ...[...this.models.values()].map((p) => ({ name: p.name, kind: "model" as const, ...p.breaker.snapshot() })),
      ...[...this.tools.values()].map((p) => ({ name: p.breaker.name, kind: "tool" as const, ...p.breaker.snapshot() })),
    ];
  }
}
