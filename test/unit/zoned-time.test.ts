import { describe, expect, test } from "bun:test";
import { assertTimeZone, formatZonedDateTime, isCalendarDate, isSupportedDate, isSupportedInstant, parseZonedDateTime } from "../../src/zoned-time";

const SHANGHAI = "Asia/Shanghai";
const NEW_YORK = "America/New_York";
// 2026-04-30T02:20:30Z, i.e. 2026-04-30 10:20:30 in Shanghai.
const INSTANT = 1777515630000;

describe("parseZonedDateTime in Asia/Shanghai", () => {
  test.each<[string, string | number, number]>([
    ["ISO with Z", "2026-04-30T02:20:30Z", INSTANT],
    ["ISO with +08:00", "2026-04-30T10:20:30+08:00", INSTANT],
    ["ISO with +0800", "2026-04-30T10:20:30+0800", INSTANT],
    ["ISO with +08", "2026-04-30T10:20:30+08", INSTANT],
    ["ISO with a negative offset", "2026-04-29T21:20:30-05:00", INSTANT],
    ["ISO without offset is read in the zone", "2026-04-30T10:20:30", INSTANT],
    ["ISO with milliseconds", "2026-04-30T10:20:30.123+08:00", INSTANT + 123],
    ["ISO with nanoseconds truncated to millis", "2026-04-30T02:20:30.123456789Z", INSTANT + 123],
    ["ISO without seconds", "2026-04-30T10:20+08:00", INSTANT - 30_000],
    ["Java yyyy-MM-dd HH:mm:ss read in the zone", "2026-04-30 10:20:30", INSTANT],
    ["surrounding whitespace trimmed", "  2026-04-30 10:20:30  ", INSTANT],
    ["epoch milliseconds as number", INSTANT, INSTANT],
    ["epoch milliseconds as 13-digit string", "1777515630000", INSTANT],
    ["leap day of a leap year", "2028-02-29 00:00:00", Date.UTC(2028, 1, 28, 16, 0, 0)],
    ["midnight", "2026-05-01 00:00:00", Date.UTC(2026, 3, 30, 16, 0, 0)],
  ])("%s", (_name, raw, expected) => {
    expect(parseZonedDateTime(raw, SHANGHAI)).toBe(expected);
  });

  test.each<[string, string | number]>([
    ["February 30th", "2026-02-30 10:00:00"],
    ["February 29th of a common year", "2026-02-29T10:00:00Z"],
    ["month 13", "2026-13-01 10:00:00"],
    ["day 0", "2026-04-00 10:00:00"],
    ["hour 25", "2026-04-30 25:00:00"],
    ["hour 24", "2026-04-30T24:00:00Z"],
    ["minute 60", "2026-04-30 10:60:00"],
    ["second 60", "2026-04-30 10:20:60"],
    ["offset hours 24", "2026-04-30T10:20:30+24:00"],
    ["offset minutes 60", "2026-04-30T10:20:30+08:60"],
    ["garbage", "not a date"],
    ["empty string", ""],
    ["date only", "2026-04-30"],
    ["slashes", "2026/04/30 10:20:30"],
    ["epoch seconds as number", 1777515630],
    ["epoch seconds as 10-digit string", "1777515630"],
    ["fractional epoch milliseconds", 1777515630000.5],
    ["epoch milliseconds before 2000", 915148800000],
    ["epoch milliseconds from 2100", 4102444800000],
    ["13-digit string beyond 2100", "9999999999999"],
    ["NaN", Number.NaN],
  ])("rejects %s", (_name, raw) => {
    expect(parseZonedDateTime(raw, SHANGHAI)).toBeNull();
  });
});

describe("parseZonedDateTime in America/New_York (DST)", () => {
  test.each<[string, string, number]>([
    ["winter wall time is UTC-5", "2026-01-15 12:00:00", Date.UTC(2026, 0, 15, 17, 0, 0)],
    ["summer wall time is UTC-4", "2026-07-01 12:00:00", Date.UTC(2026, 6, 1, 16, 0, 0)],
    ["just after spring-forward", "2026-03-08 03:30:00", Date.UTC(2026, 2, 8, 7, 30, 0)],
    ["just after fall-back", "2026-11-01 02:30:00", Date.UTC(2026, 10, 1, 7, 30, 0)],
    ["ambiguous fall-back hour takes the earlier instant", "2026-11-01 01:30:00", Date.UTC(2026, 10, 1, 5, 30, 0)],
    ["explicit offset wins over the zone", "2026-07-01T12:00:00+08:00", Date.UTC(2026, 6, 1, 4, 0, 0)],
  ])("%s", (_name, raw, expected) => {
    expect(parseZonedDateTime(raw, NEW_YORK)).toBe(expected);
  });

  // A wall time in the spring-forward gap (02:00-03:00 does not exist on 2026-03-08) is read with the offset
  // before the transition, as java.time's LocalDateTime.atZone and RFC 5545 do: 02:30 -> 03:30 EDT (07:30Z).
  // It must never land before an earlier wall time of the same night (01:59:59 EST is 06:59:59Z).
  test.each<[string, number, string]>([
    ["2026-03-08 02:30:00", Date.UTC(2026, 2, 8, 7, 30, 0), "2026-03-08T03:30:00-04:00"],
    ["2026-03-08 02:00:00", Date.UTC(2026, 2, 8, 7, 0, 0), "2026-03-08T03:00:00-04:00"],
  ])("a wall time in the spring-forward gap (%s) moves forward by the gap", (raw, expected, formatted) => {
    const epochMs = parseZonedDateTime(raw, NEW_YORK);
    expect(epochMs).toBe(expected);
    expect(formatZonedDateTime(epochMs!, NEW_YORK)).toBe(formatted);
  });
});

describe("formatZonedDateTime", () => {
  test.each<[string, number, string, string]>([
    ["Shanghai, whole seconds: no millis", INSTANT, SHANGHAI, "2026-04-30T10:20:30+08:00"],
    ["Shanghai, millis shown when not 0", INSTANT + 5, SHANGHAI, "2026-04-30T10:20:30.005+08:00"],
    ["Shanghai, date rolls over", Date.UTC(2026, 3, 30, 16, 0, 0), SHANGHAI, "2026-05-01T00:00:00+08:00"],
    ["New York in winter", Date.UTC(2026, 0, 15, 17, 0, 0), NEW_YORK, "2026-01-15T12:00:00-05:00"],
    ["New York in summer", Date.UTC(2026, 6, 1, 16, 0, 0, 250), NEW_YORK, "2026-07-01T12:00:00.250-04:00"],
    ["UTC", INSTANT, "UTC", "2026-04-30T02:20:30+00:00"],
    ["half-hour zone", INSTANT, "Asia/Kolkata", "2026-04-30T07:50:30+05:30"],
  ])("%s", (_name, epochMs, zone, expected) => {
    expect(formatZonedDateTime(epochMs, zone)).toBe(expected);
  });

  test.each<[string, string]>([
    ["2026-04-30 10:20:30", "2026-04-30T10:20:30+08:00"],
    ["2026-04-30T02:20:30Z", "2026-04-30T10:20:30+08:00"],
    ["1777515630000", "2026-04-30T10:20:30+08:00"],
    ["2026-04-30T10:20:30.100+08:00", "2026-04-30T10:20:30.100+08:00"],
  ])("any accepted form %p answers as %p", (raw, expected) => {
    const epochMs = parseZonedDateTime(raw, SHANGHAI);
    expect(epochMs).not.toBeNull();
    expect(formatZonedDateTime(epochMs!, SHANGHAI)).toBe(expected);
  });
});

// What a stored time must look like: RFC 3339 (ISO 8601 extended) with a whole-minute offset.
const ISO_OFFSET_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})$/;

describe("formatZonedDateTime writes only whole-minute offsets", () => {
  // Before standard time, zones kept local mean time, an offset with seconds: Shanghai +08:05:43 until 1901,
  // and Africa/Monrovia -00:44:30 until 1972, inside the supported range.
  test.each<[string, string, string, string]>([
    ["Monrovia on local mean time (1971)", "1971-05-31T23:15:30-00:44:30", "Africa/Monrovia", "1971-06-01T00:00:00Z"],
    ["Monrovia at the start of the range", "1970-01-01T00:00:00-00:44:30", "Africa/Monrovia", "1970-01-01T00:44:30Z"],
    ["Shanghai on local mean time (1900)", "1900-01-01T00:00:00+08:05:43", SHANGHAI, "1899-12-31T15:54:17Z"],
  ])("%s falls back to UTC", (_name, _wall, zone, expected) => {
    const formatted = formatZonedDateTime(Date.parse(expected), zone);
    expect(formatted).toBe(expected);
    expect(parseZonedDateTime(formatted, zone)).toBe(Date.parse(expected));
  });

  test("Monrovia after 1972 keeps its zone offset", () => {
    expect(formatZonedDateTime(Date.UTC(1972, 5, 1), "Africa/Monrovia")).toBe("1972-06-01T00:00:00+00:00");
  });

  test.each<[string, number]>([
    ["0000-01-01T00:00:00Z", Date.parse("0000-01-01T00:00:00Z")],
    ["year 10000", Date.parse("+010000-01-01T00:00:00Z")],
    ["year -1", Date.parse("-000001-06-01T00:00:00Z")],
  ])("%s (outside the range) is still written as ISO 8601 naming the same instant", (_name, epochMs) => {
    const formatted = formatZonedDateTime(epochMs, SHANGHAI);
    expect(formatted).toMatch(/^([+-]\d{6}|\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})$/);
    expect(Date.parse(formatted)).toBe(epochMs);
  });

  test.each(["Asia/Shanghai", "Africa/Monrovia", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "UTC"])(
    "every day from 1970 to 1975 and around 2026 in %s is written as RFC 3339 and read back as the same instant",
    (zone) => {
      const days = [...Array(6 * 366).keys()].map((day) => Date.UTC(1970, 0, 1) + day * 86_400_000 + 12_345);
      days.push(...[...Array(400).keys()].map((day) => Date.UTC(2026, 0, 1) + day * 86_400_000 + 678));
      for (const epochMs of days) {
        const formatted = formatZonedDateTime(epochMs, zone);
        expect(formatted).toMatch(ISO_OFFSET_DATE_TIME);
        expect(parseZonedDateTime(formatted, zone)).toBe(epochMs);
      }
    },
  );
});

describe("the supported range, 1970-01-01 to 9999-12-31 in the zone", () => {
  const wall = (text: string, zone: string) => parseZonedDateTime(text, zone)!;
  test.each<[string, string, boolean]>([
    ["1970-01-01 00:00:00", SHANGHAI, true],
    ["1969-12-31 23:59:59", SHANGHAI, false],
    ["1900-01-01 00:00:00", SHANGHAI, false],
    ["0000-01-01T00:00:00Z", SHANGHAI, false],
    ["2026-04-30 10:20:30", SHANGHAI, true],
    ["9999-12-31 23:59:59", SHANGHAI, true],
    ["9999-12-31T23:59:59.999-05:00", SHANGHAI, false],
    ["9999-12-31 23:59:59", NEW_YORK, true],
    ["9999-12-31T23:59:59Z", NEW_YORK, true],
    ["9999-12-31T23:59:59Z", SHANGHAI, false],
    ["1970-01-01T00:00:00Z", SHANGHAI, true],
    ["1969-12-31T15:59:59.999Z", SHANGHAI, false],
    ["1970-01-01T00:00:00Z", NEW_YORK, false],
    ["1970-01-01T05:00:00Z", NEW_YORK, true],
  ])("%s in %s: %p", (text, zone, expected) => {
    expect(isSupportedInstant(wall(text, zone), zone)).toBe(expected);
  });

  test.each<[number, boolean]>([
    [1969, false],
    [1970, true],
    [9999, true],
    [10000, false],
    [0, false],
  ])("a date in year %d: %p", (year, expected) => {
    expect(isSupportedDate(year)).toBe(expected);
  });
});

describe("isCalendarDate", () => {
  test.each<[number, number, number, boolean]>([
    [2026, 4, 30, true],
    [2026, 2, 28, true],
    [2028, 2, 29, true],
    [2000, 2, 29, true],
    [1900, 2, 29, false],
    [2026, 2, 29, false],
    [2026, 2, 30, false],
    [2026, 4, 31, false],
    [2026, 0, 1, false],
    [2026, 13, 1, false],
    [2026, 1, 0, false],
  ])("%d-%d-%d is %p", (year, month, day, expected) => {
    expect(isCalendarDate(year, month, day)).toBe(expected);
  });
});

describe("assertTimeZone", () => {
  test.each(["Asia/Shanghai", "America/New_York", "UTC"])("accepts %s", (zone) => {
    expect(() => assertTimeZone(zone)).not.toThrow();
  });
  test.each(["Mars/Olympus_Mons", "Asia/Shanghia"])("throws a RangeError for %s", (zone) => {
    expect(() => assertTimeZone(zone)).toThrow(RangeError);
  });
});
