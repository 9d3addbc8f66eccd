/** Runs in flight in this process: for shutdown, status and (later) CancelRun. */
import type { RunAbort } from "./end-state.js";

export interface ActiveRun {
  runId: string;
  conversationId: string;
  tenant: string;
  startedAt: number;
  abort(reason: RunAbort): void;
  /** Settles once the run is stored. */
  done: Promise<void>;
}

export class ActiveRuns {
  private readonly runs = new Map<string, ActiveRun>();

  add(run: ActiveRun): void {
    this.runs.set(run.runId, run);
  }

  delete(runId: string): void {
    this.runs.delete(runId);
  }

  get size(): number {
    return this.runs.size;
  }

  list(): ActiveRun[] {
    return [...this.runs.values()];
  }
}
