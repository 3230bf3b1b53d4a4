import { afterAll, afterEach, expect } from "bun:test";
import type { EventRow } from "../../events/stored-event";
import type { TestBackend } from "./test-backend";

/**
 * A source store written once for a test file and only read by its tests (written per test, it cost about a
 * second a test on PostgreSQL). After each test that used it, its head must still be its last row's, so that a
 * test writing into it by mistake fails instead of changing what later tests see. Disposed after the file.
 */
export function sharedReadOnlySource<T extends { service: TestBackend; rows: EventRow[] }>(write: () => Promise<T>): () => Promise<T> {
  let shared: Promise<T> | undefined;
  let used = false;
  afterEach(async () => {
    if (!used) return;
    used = false;
    const { service, rows } = await shared!;
    const last = rows.at(-1)!;
    expect(await service.storage.head()).toEqual({ position: last.position, hash: last.hash });
  });
  afterAll(async () => {
    const source = await shared?.catch(() => undefined);
    await source?.service.dispose();
  });
  return async () => {
    shared ??= write();
    const source = await shared;
    used = true;
    return source;
  };
}
