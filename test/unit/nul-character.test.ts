import { describe, expect, test } from "bun:test";
import type { OpportunityField } from "../../events/opportunity-events";
import { parseCreateBody, parseUpdateBody } from "../../src/commands";
import { FIELD_RULES, parseFieldValue } from "../../src/field-rules";
import { SHANGHAI_CONTEXT } from "./field-context";

// PostgreSQL text cannot hold U+0000 (error 22021, "invalid byte sequence"): accepted on SQLite, the same request
// would fail on PostgreSQL, and an export with it could not be restored there. So it is bad input on both
// backends, refused with a message naming the field, wherever text is stored as sent: codes and text fields.

const TEXT_FIELDS = (Object.keys(FIELD_RULES) as OpportunityField[]).filter((name) => ["requiredText", "optionalText"].includes(FIELD_RULES[name].kind));

describe("U+0000 in text is refused, naming the field", () => {
  test.each(TEXT_FIELDS)("%s", (name) => {
    for (const text of ["a\u0000b", "\u0000", "  末尾\u0000"]) {
      expect(parseFieldValue(name, text, SHANGHAI_CONTEXT)).toEqual({ ok: false, error: `${name} 不能包含空字符（U+0000）` });
    }
  });

  test("the six characters \\u0000 spelled out are ordinary text", () => {
    expect(parseFieldValue("description", "\\u0000", SHANGHAI_CONTEXT)).toEqual({ ok: true, value: "\\u0000" });
  });

  test("in opportunityCode of an update, and in the code and end customer of a create", () => {
    expect(parseUpdateBody({ opportunityCode: "OPP-\u0000-1", amount: 5 }, SHANGHAI_CONTEXT)).toEqual({ ok: false, errors: ["opportunityCode 不能包含空字符（U+0000）"] });
    expect(parseCreateBody({ opportunityCode: "OPP\u0000", opportunityName: "名\u0000称", endCustomerName: "客户\u0000" }, SHANGHAI_CONTEXT)).toEqual({
      ok: false,
      errors: ["opportunityCode 不能包含空字符（U+0000）", "opportunityName 不能包含空字符（U+0000）", "endCustomerName 不能包含空字符（U+0000）"],
    });
  });
});
