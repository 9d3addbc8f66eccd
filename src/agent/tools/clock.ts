/** The current time in an IANA zone, formatted for a model to read. */

export class ClockError extends Error {
  override name = "ClockError";
}

export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export function timeIn(zone: string, now: Date): string {
  if (zone.length > 64 || !isValidTimeZone(zone)) throw new ClockError(`unknown time zone "${zone.slice(0, 64)}"`);
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "longOffset",
  }).formatToParts(now);
  const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  const offset = get("timeZoneName").replace("GMT", "UTC") || "UTC";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}:${get("second")} ${zone} (${offset === "UTC" ? "UTC+00:00" : offset})`;
}
