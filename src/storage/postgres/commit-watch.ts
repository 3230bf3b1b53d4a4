import type { SQL } from "bun";

/**
 * Commits told across instances with LISTEN/NOTIFY. Each instance announces its own commits on one channel
 * (CommitAnnouncer, after the commit), and every instance's watcher listens on it: an event committed by any
 * instance, or by an `import` in another process, reaches the live streams of all of them within milliseconds.
 * The announcement is sent after the commit rather than by a trigger inside it: a trigger is a schema change,
 * and an instance of the previous binary finds a newer schema version "not ready" during a rolling upgrade.
 */

/** The channel commits are announced on; the payload is empty (listeners read what is new themselves). */
export const COMMIT_CHANNEL = "opportunity_events_committed";

/**
 * Writers that do not announce (an instance of an older binary during an upgrade, an announcement lost with its
 * connection) are still seen this often: one indexed read per tick, and only while a stream is open.
 */
export const SAFETY_POLL_MS = 1_000;

/** How long to wait before subscribing again after the first LISTEN failed (the database was out of reach). */
const RESUBSCRIBE_MS = 2_000;

/**
 * Listens for announced commits. Bun's `sql.listen` holds a dedicated connection (outside the pool), reconnects
 * it by itself after a restart and calls its on-listen hook again: that call is the catch-up for whatever was
 * committed while it was down. Only the first subscription is retried here.
 */
export async function watchCommits(sql: SQL, onCommit: () => void): Promise<() => Promise<void>> {
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let subscription: Awaited<ReturnType<SQL["listen"]>> | undefined;
  const poll = setInterval(onCommit, SAFETY_POLL_MS);
  poll.unref();
  const subscribe = async () => {
    try {
      const listening = await sql.listen(COMMIT_CHANNEL, () => onCommit(), () => onCommit());
      if (stopped) await listening.unlisten();
      else subscription = listening;
    } catch {
      if (stopped) return;
      retry = setTimeout(subscribe, RESUBSCRIBE_MS);
      retry.unref();
    }
  };
  // Not awaited: a database out of reach must not hold up the stream that asked; the poll covers meanwhile.
  void subscribe();
  onCommit();
  return async () => {
    stopped = true;
    clearInterval(poll);
    clearTimeout(retry);
    await subscription?.unlisten().catch(() => undefined);
  };
}

/**
 * Announces this instance's commits. Fire and forget, after the commit was answered: one statement at a time,
 * and the commits made while one is on its way are covered by one more, so a burst of commits costs a few
 * announcements, not one each. Each is its own transaction, committed without waiting for the WAL flush
 * (`synchronous_commit` off for it alone): it changes no data, and a listener gets it either way.
 */
export class CommitAnnouncer {
  private sending = false;
  private again = false;

  constructor(private readonly sql: SQL) {}

  committed(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    void this.send();
  }

  private async send(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.sql`SELECT set_config('synchronous_commit', 'off', true), pg_notify(${COMMIT_CHANNEL}, '')`;
      } catch {
        // The database is out of reach: listeners catch up when their connection is back, or at their next poll.
      }
    } while (this.again);
    this.sending = false;
  }
}
