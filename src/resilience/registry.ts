/**
 * One named policy per dependency (`model:<name>`, `tool:<name>`), built
 * from configuration on first use and kept for the process: health, metrics
 * and AdminService.GetStatus read their state here.
 */
import { bulkhead, type BulkheadPolicy } from "cockatiel";
import { CircuitBreaker, type BreakerOptions, type BreakerSnapshot, type StateChange } from "./breaker.js";
import { ModelPolicy, type ModelPolicyOptions } from "./model-policy.js";

export interface ResilienceOptions extends ModelPolicyOptions {
  /** Concurrent model calls, and calls that may wait for a slot. */
  bulkhead: { limit: number; queue: number };
  /** Tools: the breaker only (their timeout is the tool registry's). */
  toolBreaker: BreakerOptions;
}

export interface DependencyStatus extends BreakerSnapshot {
  name: string;
  kind: "model" | "tool";
}

export class PolicyRegistry {
  private readonly models = new Map<string, ModelPolicy>();
  private readonly tools = new Map<string, CircuitBreaker>();
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

  tool(name: string, isFailure: (err: unknown) => boolean): CircuitBreaker {
    let breaker = this.tools.get(name);
    if (!breaker) {
      const dependency = `tool:${name}`;
      breaker = new CircuitBreaker(dependency, this.opts.toolBreaker, isFailure, (c) => this.onChange?.(dependency, c));
      this.tools.set(name, breaker);
    }
    return breaker;
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
      ...[...this.tools.values()].map((b) => ({ name: b.name, kind: "tool" as const, ...b.snapshot() })),
    ];
  }
}
