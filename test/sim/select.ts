/** Which scenario a request gets: queued first, then by header, then by model name, else the defaults. */
import type { Scenario } from "./scenario.js";

export const SCENARIO_HEADER = "x-sim-scenario";

export type Selection = { name: string; scenario: Scenario } | { unknown: string };

export interface ScenarioBook {
  queue: Scenario[];
  named: Record<string, Scenario>;
  defaults: Scenario;
}

/** Takes from the queue when it is not empty. */
export function selectScenario(book: ScenarioBook, header: string | undefined, model: string): Selection {
  const picked = pick(book, header, model);
  if ("unknown" in picked) return picked;
  // Pacing is the one thing a scenario inherits, so `--token-delay-ms` slows every scenario that does not set its own.
  const pacing = { ...book.defaults.pacing, ...picked.scenario.pacing };
  return { name: picked.name, scenario: { ...picked.scenario, pacing } };
}

function pick(book: ScenarioBook, header: string | undefined, model: string): Selection {
  const queued = book.queue.shift();
  if (queued) return { name: "queued", scenario: queued };
  if (header !== undefined && header !== "") {
    const s = Object.hasOwn(book.named, header) ? book.named[header] : undefined;
    return s ? { name: header, scenario: s } : { unknown: header };
  }
  const byModel = Object.hasOwn(book.named, model) ? book.named[model] : undefined;
  if (byModel) return { name: model, scenario: byModel };
  return { name: "default", scenario: book.defaults };
}
