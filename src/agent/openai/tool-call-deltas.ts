/**
 * Gives every tool call of a streamed response its own `index`, whatever the
 * server sent. OpenAI-compatible servers differ: some reuse index 0 for calls
 * with different ids, some send `id` only on a call's first piece (or never),
 * some omit `index`. LangChain merges pieces by index (and id when both sides
 * have one), so without this, two calls can fuse into one broken call or one
 * call can split into fragments.
 *
 * The rule, applied per piece: a new `id` starts a new call; a known `id`
 * continues that call; a piece without `id` continues the latest call that
 * had the same incoming index (or the latest call of all when the piece has
 * no index), and starts a new call only when its index was never seen.
 */

export interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

interface Call {
  out: number;
  id: string | undefined;
  inIndex: number | undefined;
}

export class ToolCallIndexer {
  private readonly calls: Call[] = [];
  private readonly byId = new Map<string, Call>();
  private readonly latestByInIndex = new Map<number, Call>();

  private start(id: string | undefined, inIndex: number | undefined): Call {
    const call: Call = { out: this.calls.length, id, inIndex };
    this.calls.push(call);
    if (id) this.byId.set(id, call);
    if (inIndex !== undefined) this.latestByInIndex.set(inIndex, call);
    return call;
  }

  private resolve(d: ToolCallDelta): Call {
    const id = d.id || undefined;
    if (id) {
      const known = this.byId.get(id);
      if (known) return known;
      // An id-less call at this index that just got its id (id on a later piece).
      const pending = d.index !== undefined ? this.latestByInIndex.get(d.index) : this.calls.at(-1);
      if (pending && pending.id === undefined && !d.function?.name) {
        pending.id = id;
        this.byId.set(id, pending);
        return pending;
      }
      return this.start(id, d.index);
    }
    if (d.index !== undefined) return this.latestByInIndex.get(d.index) ?? this.start(undefined, d.index);
    return this.calls.at(-1) ?? this.start(undefined, undefined);
  }

  /** Rewrites the pieces' `index` in place to a unique index per call. */
  normalize(deltas: ToolCallDelta[]): ToolCallDelta[] {
    for (const d of deltas) {
      const call = this.resolve(d);
      d.index = call.out;
      if (d.id && call.id !== d.id) d.id = call.id;
    }
    return deltas;
  }
}
