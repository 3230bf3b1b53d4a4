import { OPPORTUNITY_FIELD_NAMES, type FieldValues } from "../events/opportunity-events";
import { parseFieldValue, quoteSent, wellFormedTextError, type FieldContext } from "./field-rules";

/** Create one opportunity; `fields` holds only the fields sent (text fields cleared by "" are null). */
export interface CreateOpportunity {
  type: "CreateOpportunity";
  opportunityCode: string;
  endCustomerName: string;
  fields: FieldValues;
}

/** Partially update one opportunity: `fields` holds only the fields sent, with their checked values. */
export interface UpdateOpportunity {
  type: "UpdateOpportunity";
  opportunityCode: string;
  fields: FieldValues;
  /** From If-Match: apply only if the opportunity is still at this version. */
  expectedVersion?: number;
}

export type OpportunityCommand = CreateOpportunity | UpdateOpportunity;

/** A command, or every reason the request body is not one. */
export type Parsed<C> = { ok: true; command: C } | { ok: false; errors: string[] };

/** Messages of several wrong fields are joined into one envelope message with this. */
export const ERROR_SEPARATOR = "；";

export const MAX_CODE_LENGTH = 64;
export const MAX_END_CUSTOMER_LENGTH = 200;
const FIELD_SET = new Set<string>(OPPORTUNITY_FIELD_NAMES);

/** Any field that names the end customer: `endCustomerName`, `customerId`, `final_customer`, … */
export function namesEndCustomer(field: string): boolean {
  return /customer/i.test(field);
}

function parseRequiredText(record: Record<string, unknown>, name: string, maxLength: number, errors: string[]): string {
  const raw = record[name];
  if (raw === undefined || raw === null) {
    errors.push(`${name} 不能为空`);
    return "";
  }
  if (typeof raw !== "string") {
    errors.push(`${name} 必须是字符串，收到: ${quoteSent(raw, record, name)}`);
    return "";
  }
  const text = raw.trim();
  const malformed = wellFormedTextError(name, text);
  if (malformed) errors.push(malformed);
  else if (text === "") errors.push(`${name} 不能为空`);
  else if ([...text].length > maxLength) errors.push(`${name} 长度不能超过 ${maxLength} 个字符，收到 ${[...text].length} 个`);
  return text;
}

interface BodyShape {
  /** Extra top-level names this body accepts besides the code and the updatable fields. */
  extraFields: readonly string[];
  /** Whether end-customer names are refused with the contract's "cannot update the end customer" message. */
  refuseEndCustomer: boolean;
}

type BodyParts = { errors: string[]; code: string; fields: FieldValues; record: Record<string, unknown> };

function parseBody(body: unknown, shape: BodyShape, context: FieldContext): BodyParts | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return null;
  const errors: string[] = [];
  const record = body as Record<string, unknown>;
  const code = parseRequiredText(record, "opportunityCode", MAX_CODE_LENGTH, errors);

  const unknown: string[] = [];
  const endCustomer: string[] = [];
  for (const key of Object.keys(record)) {
    if (key === "opportunityCode" || FIELD_SET.has(key) || shape.extraFields.includes(key)) continue;
    // null means "not sent" here too: a Java DTO that carries the property unset asks nothing of us.
    if (record[key] === null) continue;
    if (shape.refuseEndCustomer && namesEndCustomer(key)) endCustomer.push(key);
    else unknown.push(key);
  }
  if (endCustomer.length > 0) errors.push(`不支持更新商机的最终客户: ${endCustomer.join("、")}`);
  if (unknown.length > 0) errors.push(`不支持的字段: ${unknown.join("、")}`);

  const fields: FieldValues = {};
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    const raw = record[name];
    // Java clients serialise unset fields as null: null means "not sent".
    if (raw === undefined || raw === null) continue;
    const result = parseFieldValue(name, raw, context, record);
    if (result.ok) fields[name] = result.value;
    else errors.push(result.error);
  }
  return { errors, code, fields, record };
}

export const NOT_AN_OBJECT = "请求体必须是 JSON 对象";

/**
 * Codes a URL path cannot carry: every client and the URL standard resolve "." and ".." (even as %2E) as
 * directory steps, so GET /api/opportunities/{code} could never reach such an opportunity. Refused at creation.
 */
const DOT_SEGMENTS: ReadonlySet<string> = new Set([".", ".."]);

/** Checks an update body against the contract; reports every problem, not just the first. */
export function parseUpdateBody(body: unknown, context: FieldContext): Parsed<UpdateOpportunity> {
  const parts = parseBody(body, { extraFields: [], refuseEndCustomer: true }, context);
  if (parts === null) return { ok: false, errors: [NOT_AN_OBJECT] };
  const { errors, code, fields, record } = parts;
  const sent = OPPORTUNITY_FIELD_NAMES.some((name) => record[name] !== undefined && record[name] !== null);
  if (!sent) errors.push("至少传入一个需要更新的字段");
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, command: { type: "UpdateOpportunity", opportunityCode: code, fields } };
}

/** Checks a create body: the update fields' rules, plus a required name and end customer. */
export function parseCreateBody(body: unknown, context: FieldContext): Parsed<CreateOpportunity> {
  const parts = parseBody(body, { extraFields: ["endCustomerName"], refuseEndCustomer: false }, context);
  if (parts === null) return { ok: false, errors: [NOT_AN_OBJECT] };
  const { errors, code, fields, record } = parts;
  if (record.opportunityName === undefined || record.opportunityName === null) errors.push("opportunityName 不能为空");
  const endCustomerName = parseRequiredText(record, "endCustomerName", MAX_END_CUSTOMER_LENGTH, errors);
  if (DOT_SEGMENTS.has(code)) errors.push(`opportunityCode 不能是 ${code}（URL 路径会把它当作目录，无法按编号查询）`);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, command: { type: "CreateOpportunity", opportunityCode: code, endCustomerName, fields } };
}
