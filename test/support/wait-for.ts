/**
 * Polls `check` (which may ask over the network) every 25 ms until it is true, for at most `timeoutMs`; throws
 * naming `what` otherwise. A hang guard, not a speed check.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(25);
  }
  if (!(await check())) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
