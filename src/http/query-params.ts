import { ERROR_SEPARATOR } from "../commands";
import { outOfRangeError, quote } from "../field-rules";
import { isSupportedInstant, parseZonedDateTime } from "../zoned-time";

/**
 * Checks of the read routes' query strings, each reporting every problem in the contract's style, so a typo
 * in a parameter name is an error and never silently the default.
 */
export type QueryResult<T> = { ok: true; value: T } | { ok: false; message: string };

type Query = Record<string, string | undefined>;

export class QueryReader {
  readonly errors: string[] = [];
  private readonly query: Query = {};

  /** Reads the query string of a request URL; only `allowed` names may appear, each at most once. */
  constructor(url: string, allowed: readonly string[]) {
    // Most requests carry no query (every plain write): no URL to parse then. A request URL has no fragment.
    const mark = url.indexOf("?");
    if (mark === -1) return;
    const params = new URLSearchParams(url.slice(mark + 1));
    const names = [...new Set(params.keys())];
    const unknown = names.filter((key) => !allowed.includes(key));
    if (unknown.length > 0) this.errors.push(`不支持的查询参数: ${unknown.join("、")}，支持: ${allowed.join("、")}`);
    // Which of two values was meant cannot be known: say so rather than pick one.
    const repeated = names.filter((key) => allowed.includes(key) && params.getAll(key).length > 1);
    if (repeated.length > 0) this.errors.push(`查询参数只能传一次: ${repeated.join("、")}`);
    for (const name of names) this.query[name] = params.get(name) ?? undefined;
  }

  has(name: string): boolean {
    return this.query[name] !== undefined && this.query[name] !== "";
  }

  /** A parameter's text, trimmed; undefined when absent or blank. */
  text(name: string): string | undefined {
    const value = this.query[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  }

  /** A whole number within [min, max], or the default when absent. */
  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.query[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `不小于 ${min} 的整数` : `${min} 到 ${max} 之间的整数`;
      this.errors.push(`${name} 必须是${range}，收到: ${quote(raw)}`);
      return fallback;
    }
    return value;
  }

  /** One of `accepted` as written (exact case), or the default when absent; anything else is named with the accepted values. */
  oneOf<T extends string>(name: string, accepted: readonly T[], fallback: T): T {
    const raw = this.query[name];
    if (raw === undefined || raw === "") return fallback;
    if ((accepted as readonly string[]).includes(raw)) return raw as T;
    this.errors.push(`${name} 必须是 ${accepted.join("、")} 之一，收到: ${quote(raw)}`);
    return fallback;
  }

  /**
   * A switch: `true` or `false` as written, false when absent. Any other value, an empty one too, is named:
   * a request that asked for something unclear must not run as if it had asked for nothing.
   */
  /**
   * A switch that is on when it says `true` and off when it is absent. Any other value, `false` included, is
   * refused: a caller who meant to switch it on with `1` or `TRUE` must not get the opposite (a real write for a
   * dry run), and one who does not want it simply leaves it out.
   */
  flag(name: string, meaning: string): boolean {
    const raw = this.query[name];
    if (raw === undefined) return false;
    if (raw === "true") return true;
    this.errors.push(`${name} 只能是 true（${meaning}）；不需要时不传，收到: ${quote(raw)}`);
    return false;
  }

  /**
   * An instant: ISO 8601 with or without offset, `yyyy-MM-dd HH:mm:ss`, or a date alone, which means the end of
   * that day in the zone ("as it was on 1 April").
   */
  instant(name: string, timeZone: string): number | undefined {
    const raw = this.query[name];
    if (raw === undefined || raw === "") return undefined;
    // An unencoded "+08:00" arrives as " 08:00" (many HTTP clients do not encode "+" in a query).
    const time = raw.trim().replace(/(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$/, "$1+$2");
    const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(time);
    const epochMs = parseZonedDateTime(dateOnly ? `${time} 23:59:59.999` : time, timeZone);
    if (epochMs === null) {
      this.errors.push(`${name} 必须是 ISO 8601 时间（如 2026-04-01T12:00:00+08:00）或日期（如 2026-04-01），收到: ${quote(raw)}`);
      return undefined;
    }
    if (!isSupportedInstant(epochMs, timeZone)) {
      this.errors.push(outOfRangeError(name, raw));
      return undefined;
    }
    return epochMs;
  }

  result<T>(value: T): QueryResult<T> {
    return this.errors.length > 0 ? { ok: false, message: this.errors.join(ERROR_SEPARATOR) } : { ok: true, value };
  }
}
