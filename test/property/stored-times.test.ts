import { describe, test } from "bun:test";
import fc from "fast-check";
import { parseFieldValue } from "../../src/field-rules";
import { isSupportedInstant, parseZonedDateTime } from "../../src/zoned-time";
import { SHANGHAI_CONTEXT } from "../unit/field-context";
import { fcOptions } from "./property-support";

// Zones with odd offsets: half and three-quarter hours, daylight saving, local mean time with seconds until
// 1972 (Monrovia), and Shanghai's +08:05:43 before 1901.
const ZONES = ["Asia/Shanghai", "Africa/Monrovia", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "Australia/Lord_Howe", "UTC"];
// RFC 3339: what every stored omsPushTime must look like.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})$/;

const pad = (value: number, width = 2) => String(Math.abs(value)).padStart(width, "0");

/** The wall time `epochMs + offsetMinutes` written as `yyyy-MM-ddTHH:mm:ss.SSS` (years 0000-9999 only). */
function wallText(epochMs: number, offsetMinutes: number, separator: "T" | " "): string {
  const wall = new Date(epochMs + offsetMinutes * 60_000);
  return (
    `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}${separator}` +
    `${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}.${pad(wall.getUTCMilliseconds(), 3)}`
  );
}

const offsetText = (minutes: number) => `${minutes < 0 ? "-" : "+"}${pad(Math.trunc(minutes / 60))}:${pad(minutes % 60)}`;

// Instants from year 1 to the end of 9999 (so that every written form has a four-digit year), weighted
// towards the edges of the supported range and the years of local mean time.
const instants = fc.oneof(
  fc.integer({ min: Date.parse("0001-01-02T00:00:00Z"), max: Date.UTC(9999, 11, 30) }),
  fc.integer({ min: Date.UTC(1969, 11, 30), max: Date.UTC(1972, 11, 31) }),
  fc.integer({ min: Date.UTC(1899, 0, 1), max: Date.UTC(1902, 0, 1) }),
  fc.integer({ min: Date.UTC(9999, 11, 30), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) - 14 * 3_600_000 }),
  fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }),
);

/** One input as a client may send it: ISO in UTC, ISO with any offset, the zone's wall time, epoch millis. */
const inputs = fc.tuple(instants, fc.integer({ min: -14 * 60, max: 14 * 60 }), fc.constantFrom("utc", "offset", "wall", "javaWall", "epoch")).map(([epochMs, offset, form]) => {
  if (form === "utc") return `${wallText(epochMs, 0, "T")}Z`;
  if (form === "offset") return `${wallText(epochMs, offset, "T")}${offsetText(offset)}`;
  // The wall clock of UTC read in the zone: some local time, existing or not, in or out of range.
  if (form === "wall") return wallText(epochMs, 0, "T");
  if (form === "javaWall") return wallText(epochMs, 0, " ").slice(0, 19);
  return epochMs >= Date.UTC(2000, 0, 1) && epochMs < Date.UTC(2100, 0, 1) ? epochMs : `${wallText(epochMs, 0, "T")}Z`;
});

describe("stored times", () => {
  test(
    "every accepted omsPushTime is stored as RFC 3339 that is accepted back as the same instant; the rest are refused as out of range",
    () => {
      fc.assert(
        fc.property(inputs, fc.constantFrom(...ZONES), (raw, timeZone) => {
          const context = { ...SHANGHAI_CONTEXT, timeZone };
          const instant = parseZonedDateTime(raw, timeZone);
          if (instant === null) throw new Error(`a generated form was not read at all: ${raw}`);
          const result = parseFieldValue("omsPushTime", raw, context);
          if (!result.ok) {
            if (isSupportedInstant(instant, timeZone)) throw new Error(`${raw} in ${timeZone} is in range but refused: ${result.error}`);
            if (!result.error.startsWith("omsPushTime 超出支持的范围（1970-01-01 至 9999-12-31）: ")) throw new Error(`unexpected message: ${result.error}`);
            return;
          }
          const stored = result.value as string;
          if (!RFC3339.test(stored)) throw new Error(`${raw} in ${timeZone} stored as ${stored}, not RFC 3339`);
          if (parseZonedDateTime(stored, timeZone) !== instant) throw new Error(`${raw} in ${timeZone} stored as ${stored}, another instant`);
          if (Date.parse(stored) !== instant) throw new Error(`${stored} names another instant for Date.parse`);
          const again = parseFieldValue("omsPushTime", stored, context);
          if (!again.ok || again.value !== stored) throw new Error(`${stored} in ${timeZone} is not accepted back unchanged: ${JSON.stringify(again)}`);
        }),
        fcOptions(3000),
      );
    },
    20_000,
  );
});
