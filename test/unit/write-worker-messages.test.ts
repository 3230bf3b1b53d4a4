/**
 * How an error crosses between the HTTP thread and the writer thread: as plain data (structured clone), rebuilt
 * on the other side so that a storage failure still answers 503 and a bug keeps its message and code.
 */
import { describe, expect, test } from "bun:test";
import { StorageUnavailableError } from "../../src/storage-errors";
import { errorOf, errorShape } from "../../src/write-worker-messages";

const across = (error: unknown) => errorOf(structuredClone(errorShape(error)));

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
