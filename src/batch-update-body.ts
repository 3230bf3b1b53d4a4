import { rememberItemSources } from "../events/exact-json";
import { ERROR_SEPARATOR, NOT_AN_OBJECT, parseUpdateBody, type Parsed } from "./commands";
import { quoteSent, type FieldContext } from "./field-rules";
import type { BatchItem, BatchUpdate } from "./write/batch-update";

/** Most items one batch update may hold unless configured (the batchMaxItems setting's default too). */
export const DEFAULT_BATCH_MAX_ITEMS = 200;

const BATCH_FIELDS = ["items", "allOrNone"];

/** The code an item names, for its result, whether or not the rest of it is valid. */
function codeOf(item: unknown): string | null {
  const code = typeof item === "object" && item !== null ? (item as Record<string, unknown>).opportunityCode : undefined;
  return typeof code === "string" && code.trim() !== "" ? code.trim() : null;
}

/** One item: exactly a body of the update route, checked by the same rules, its reasons in the same words. */
function parseItem(item: unknown, context: FieldContext): BatchItem {
  const parsed = parseUpdateBody(item, context);
  return parsed.ok ? { command: parsed.command } : { invalid: parsed.errors.join(ERROR_SEPARATOR), opportunityCode: codeOf(item) };
}

/** The reasons the batch's own members are refused (not its items'): every one, as the single routes do. */
function batchErrors(record: Record<string, unknown>, maxItems: number): string[] {
  const errors: string[] = [];
  // null means "not sent" here too, as in every body.
  const unknown = Object.keys(record).filter((key) => !BATCH_FIELDS.includes(key) && record[key] !== null);
  if (unknown.length > 0) errors.push(`不支持的字段: ${unknown.join("、")}`);
  const allOrNone = record.allOrNone;
  if (allOrNone !== undefined && allOrNone !== null && typeof allOrNone !== "boolean") errors.push(`allOrNone 只能是 true 或 false，收到: ${quoteSent(allOrNone, record, "allOrNone")}`);
  const items = record.items;
  if (items === undefined || items === null) errors.push("items 不能为空");
  else if (!Array.isArray(items)) errors.push(`items 必须是数组，收到: ${quoteSent(items, record, "items")}`);
  else if (items.length === 0) errors.push("items 不能为空");
  else if (items.length > maxItems) errors.push(`批量更新最多 ${maxItems} 条，本次 ${items.length} 条`);
  return errors;
}

/**
 * Checks a batch update body, `{"items": [<update body>, …], "allOrNone": false}`: the whole body is refused when
 * it is not such an object, when `items` is missing, empty or longer than `maxItems`; otherwise each item is
 * parsed on its own, and an invalid item is carried with its reasons (it fails alone, or the whole batch with
 * allOrNone), so that the answer has one result per item, in order.
 */
export function parseBatchUpdateBody(body: unknown, context: FieldContext, maxItems: number): Parsed<BatchUpdate> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { ok: false, errors: [NOT_AN_OBJECT] };
  const record = body as Record<string, unknown>;
  const errors = batchErrors(record, maxItems);
  if (errors.length > 0) return { ok: false, errors };
  // Each item's refused numbers are quoted as sent, as the update route quotes its body's.
  rememberItemSources(record, "items");
  const items = (record.items as unknown[]).map((item) => parseItem(item, context));
  return { ok: true, command: { items, allOrNone: record.allOrNone === true } };
}
