/** The index repair on its own, over the shapes real servers send. */
import { describe, expect, it } from "vitest";
import { ToolCallIndexer, type ToolCallDelta } from "../src/agent/openai/tool-call-deltas.js";

/** Feeds deltas one response at a time and returns the joined call per output index. */
function assemble(deltas: ToolCallDelta[]): Array<{ id: string | undefined; name: string; args: string }> {
  const indexer = new ToolCallIndexer();
  const calls: Array<{ id: string | undefined; name: string; args: string }> = [];
  for (const d of deltas) {
    const [n] = indexer.normalize([{ ...d, function: d.function ? { ...d.function } : undefined }]);
    const i = n!.index!;
    calls[i] ??= { id: undefined, name: "", args: "" };
    const c = calls[i];
    if (n!.id) c.id = n!.id;
    c.name += n!.function?.name ?? "";
    c.args += n!.function?.arguments ?? "";
  }
  return calls;
}

describe("tool-call index repair", () => {
  it("keeps well-formed parallel calls as they are", () => {
    expect(assemble([
      { index: 0, id: "a", function: { name: "calc", arguments: '{"x":' } },
      { index: 1, id: "b", function: { name: "clock", arguments: "{}" } },
      { index: 0, function: { arguments: "1}" } },
    ])).toEqual([{ id: "a", name: "calc", args: '{"x":1}' }, { id: "b", name: "clock", args: "{}" }]);
  });

  it("separates calls that reuse index 0 with different ids, also when later pieces omit the id", () => {
    expect(assemble([
      { index: 0, id: "a", function: { name: "calc", arguments: '{"e":' } },
      { index: 0, function: { arguments: '"1+1"}' } },
      { index: 0, id: "b", function: { name: "calc", arguments: '{"e":' } },
      { index: 0, function: { arguments: '"2+2"}' } },
    ])).toEqual([{ id: "a", name: "calc", args: '{"e":"1+1"}' }, { id: "b", name: "calc", args: '{"e":"2+2"}' }]);
  });

  it("follows ids when the server omits index", () => {
    expect(assemble([
      { id: "a", function: { name: "calc", arguments: "{" } },
      { function: { arguments: "}" } },
      { id: "b", function: { name: "clock", arguments: "{}" } },
    ])).toEqual([{ id: "a", name: "calc", args: "{}" }, { id: "b", name: "clock", args: "{}" }]);
  });

  it("tells calls apart by index when the server sends no ids at all", () => {
    expect(assemble([
      { index: 0, function: { name: "calc", arguments: "{" } },
      { index: 1, function: { name: "clock", arguments: "{" } },
      { index: 0, function: { arguments: "}" } },
      { index: 1, function: { arguments: "}" } },
    ])).toEqual([{ id: undefined, name: "calc", args: "{}" }, { id: undefined, name: "clock", args: "{}" }]);
  });

  it("attaches an id that arrives on a later piece to the call already started", () => {
    expect(assemble([
      { index: 0, function: { name: "calc", arguments: "{" } },
      { index: 0, id: "late", function: { arguments: "}" } },
    ])).toEqual([{ id: "late", name: "calc", args: "{}" }]);
  });
});
