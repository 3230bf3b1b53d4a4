/**
 * The secret the user signed in with: in this tab's sessionStorage only (gone when the tab closes), never in a
 * URL, a cookie or a log. Sent as X-Internal-Secret by api.ts.
 */
const KEY = "opportunity-console.secret";

export const session = {
  secret(): string | null {
    try {
      return sessionStorage.getItem(KEY);
    } catch {
      return null;
    }
  },
  keep(secret: string): void {
    sessionStorage.setItem(KEY, secret);
  },
  forget(): void {
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // Storage unavailable: nothing was kept.
    }
  },
};
