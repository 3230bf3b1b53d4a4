/**
 * Date-times in a configured IANA zone without a library: Intl knows every zone's offset at any instant.
 * `omsPushTime` arrives as ISO 8601, as Java's `yyyy-MM-dd HH:mm:ss`, or as epoch milliseconds, and is
 * stored and answered as ISO 8601 with the zone's offset, e.g. `2026-04-30T10:20:30+08:00`.
 *
 * Supported times run from 1970-01-01 00:00:00 to 9999-12-31 23:59:59.999 on the zone's wall clock: four-digit
 * years that every client can read, and no local mean time (offsets with seconds, such as Shanghai's
 * +08:05:43 before 1901), which RFC 3339 cannot write.
 */

export const FIRST_SUPPORTED_YEAR = 1970;
export const LAST_SUPPORTED_YEAR = 9999;
/** The supported range as the messages and the docs state it. */
export const SUPPORTED_RANGE_TEXT = `${FIRST_SUPPORTED_YEAR}-01-01 至 ${LAST_SUPPORTED_YEAR}-12-31`;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** Throws a RangeError for a zone name Intl does not know. */
export function assertTimeZone(zone: string): void {
  formatterFor(zone);
}

/** The wall clock of the zone at `epochMs`, to the second (the console shows times with it too). */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export function wallClockAt(epochMs: number, zone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(new Date(epochMs))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return parts as unknown as WallClock;
}

/** The zone's offset from UTC at `epochMs`, in milliseconds (east positive). */
function offsetAt(epochMs: number, zone: string): number {
  const parts = wallClockAt(epochMs, zone);
  const wallAsUtc = utcMillis(parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second);
  return wallAsUtc - (epochMs - (((epochMs % 1000) + 1000) % 1000));
}

const DAY_MS = 86_400_000;

/** Date.UTC without its quirk of reading years 0-99 as 1900-1999. */
function utcMillis(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, millis = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime();
}

/**
 * The instant at which the zone's wall clock shows the given local time. At a fall-back overlap the earlier
 * instant wins; a time skipped by a spring-forward gap is read with the offset in force before the gap
 * (02:30 becomes 03:30 summer time), as Java's `LocalDateTime.atZone` does.
 */
function zonedWallTimeToEpoch(wallAsUtc: number, zone: string): number {
  const offsetBefore = offsetAt(wallAsUtc - DAY_MS, zone);
  const offsetAfter = offsetAt(wallAsUtc + DAY_MS, zone);
  const candidates = [wallAsUtc - offsetBefore, wallAsUtc - offsetAfter].filter((instant) => instant + offsetAt(instant, zone) === wallAsUtc);
  return candidates.length > 0 ? Math.min(...candidates) : wallAsUtc - offsetBefore;
}

/** Whether a date (`expectedCloseDate`, or a day of `asOf`) is in a supported year. */
export function isSupportedDate(year: number): boolean {
  return year >= FIRST_SUPPORTED_YEAR && year <= LAST_SUPPORTED_YEAR;
}

const rangeOfZone = new Map<string, { first: number; last: number }>();

/** Whether the instant's wall time in the zone lies within the supported range. */
export function isSupportedInstant(epochMs: number, zone: string): boolean {
  let range = rangeOfZone.get(zone);
  if (!range) {
    range = {
      first: zonedWallTimeToEpoch(utcMillis(FIRST_SUPPORTED_YEAR, 1, 1), zone),
      last: zonedWallTimeToEpoch(utcMillis(LAST_SUPPORTED_YEAR + 1, 1, 1), zone) - 1,
    };
    rangeOfZone.set(zone, range);
  }
  return epochMs >= range.first && epochMs <= range.last;
}

export function isCalendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const date = new Date(utcMillis(year, month, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
// Epoch milliseconds between 2000-01-01 and 2100-01-01: wide for any real push time, and it keeps a stray
// number of seconds (10 digits) from being read as a date in January 1970.
const EPOCH_MS_MIN = 946_684_800_000;
const EPOCH_MS_MAX = 4_102_444_800_000;

/** Reads a date-time in one of the accepted forms; returns the epoch milliseconds, or null if it is not one. */
export function parseZonedDateTime(raw: string | number, zone: string): number | null {
  if (typeof raw === "number") {
    return Number.isInteger(raw) && raw >= EPOCH_MS_MIN && raw < EPOCH_MS_MAX ? raw : null;
  }
  const text = raw.trim();
  if (/^\d{12,13}$/.test(text)) return parseZonedDateTime(Number(text), zone);
  const match = DATE_TIME.exec(text);
  if (!match) return null;
  const [, y, mo, d, h, mi, s = "0", fraction = "", offset] = match;
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(s);
  if (!isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return null;
  const millis = Number(fraction.padEnd(3, "0").slice(0, 3));
  const wallAsUtc = utcMillis(year, month, day, hour, minute, second, millis);
  if (offset === undefined) return zonedWallTimeToEpoch(wallAsUtc, zone);
  if (offset === "Z") return wallAsUtc;
  const sign = offset.startsWith("-") ? -1 : 1;
  const digits = offset.slice(1).replace(":", "");
  const offsetHours = Number(digits.slice(0, 2));
  const offsetMinutes = Number(digits.slice(2) || "0");
  if (offsetHours > 23 || offsetMinutes > 59) return null;
  return wallAsUtc - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
}

const pad = (value: number, width = 2) => String(value).padStart(width, "0");
const MINUTE_MS = 60_000;

/** A year as ISO 8601 writes it: four digits, or the expanded six with a sign beyond 0000-9999. */
const isoYear = (year: number) => (year >= 0 && year <= 9999 ? pad(year, 4) : `${year < 0 ? "-" : "+"}${pad(Math.abs(year), 6)}`);

/**
 * ISO 8601 in the zone with its offset; milliseconds only when there are any. An offset that is not a whole
 * number of minutes (local mean time: Africa/Monrovia's -00:44:30 until 1972) has no RFC 3339 form, so such
 * an instant is written in UTC with `Z`: another wall clock, the same instant.
 */
export function formatZonedDateTime(epochMs: number, zone: string): string {
  const zoneOffset = offsetAt(epochMs, zone);
  // Intl reads years before 1 as eras, which makes the computed offset absurd: UTC then too.
  const offset = zoneOffset % MINUTE_MS === 0 && Math.abs(zoneOffset) < DAY_MS ? zoneOffset : null;
  const wall = new Date(epochMs + (offset ?? 0));
  const millis = wall.getUTCMilliseconds();
  const offsetMinutes = Math.abs(offset ?? 0) / MINUTE_MS;
  const suffix = offset === null ? "Z" : `${offset < 0 ? "-" : "+"}${pad(Math.floor(offsetMinutes / 60))}:${pad(offsetMinutes % 60)}`;
  return (
    `${isoYear(wall.getUTCFullYear())}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}` +
    `T${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}` +
    (millis ? `.${pad(millis, 3)}` : "") +
    suffix
  );
}
