/**
 * What crosses between the HTTP thread and the writer thread: messages as exact JSON text (64-bit IDs exact),
 * and errors as plain data rebuilt on the other side, so that a storage failure still answers 503 and a bug
 * keeps its message and code.
 */
import { describe, expect, test } from "bun:test";
import { StorageUnavailableError } from "../../src/storage-errors";
import { decodeMessage, encodeMessage, errorOf, errorShape, type FromWorker, type ToWorker } from "../../src/write-worker-messages";

const across = (error: unknown) => errorOf(decodeMessage<Extract<FromWorker, { kind: "failed" }>>(encodeMessage({ kind: "failed", id: 1, error: errorShape(error) })).error);

describe("messages across the threads", () => {
  test("a batch arrives as sent: bigints beyond 2^53 stay exact bigints, safe integers stay numbers, text is kept", () => {
    const sent: ToWorker = {
      kind: "commit",
      id: 7,
      allOrNothing: false,
      requests: [
        {
          command: { type: "UpdateOpportunity", opportunityCode: "OPP-\u2028-“引号”\"", fields: { salesExpansionId: 9223372036854775807n, preSalesId: 9007199254740991, amount: 2800000.5, description: null } },
          metadata: { actor: "oms", requestId: "r-1" },
          idempotency: { client: "oms", key: "k", fingerprint: "f" },
        },
      ],
    };
    const text = encodeMessage(sent);
    expect(typeof text).toBe("string");
    expect(decodeMessage<ToWorker>(text)).toEqual(sent);
    const fields = (decodeMessage<Extract<ToWorker, { kind: "commit" }>>(text).requests[0] as { command: { fields: Record<string, unknown> } }).command.fields;
    expect(typeof fields.salesExpansionId).toBe("bigint");
    expect(typeof fields.preSalesId).toBe("number");
  });
});

describe("errors across the threads", () => {
  test("a storage failure arrives as StorageUnavailableError with its code, message and lock state", () => {
    const sent = new StorageUnavailableError("SQLITE_BUSY", Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }));
    const received = across(sent);
    expect(received).toBeInstanceOf(StorageUnavailableError);
    expect(received).toMatchObject({ code: "SQLITE_BUSY", lockHeld: true, userMessage: sent.userMessage });
  });

  test("any other error arrives as an Error with its message and its code, not as a storage failure", () => {
    const received = across(Object.assign(new Error("FOREIGN KEY constraint failed"), { code: "SQLITE_CONSTRAINT_FOREIGNKEY" }));
    expect(received).not.toBeInstanceOf(StorageUnavailableError);
    expect(received).toMatchObject({ message: "FOREIGN KEY constraint failed", code: "SQLITE_CONSTRAINT_FOREIGNKEY" });
    expect(across("a thrown string")).toMatchObject({ message: "a thrown string" });
    expect(across(new TypeError("x is undefined")).message).toBe("x is undefined");
  });
});
