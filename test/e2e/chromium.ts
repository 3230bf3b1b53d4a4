/**
 * Debian's Chromium (/usr/bin/chromium, installed by `make test` when missing) for the browser tests, started
 * here with exactly the flags below and driven by playwright-core over the DevTools protocol: headless, a fresh
 * user data dir per run (removed afterwards), nothing that would reach out on its own (no background
 * networking, component updates or sync), so that every request the browser makes is one the page asked for.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { makeTempDir } from "../support/temp-dir";

export const CHROMIUM = "/usr/bin/chromium";

/** The flags; the others are what driving it needs: headless, its own profile, the DevTools port. */
export const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export interface RunningChromium {
  browser: Browser;
  /** Closes the browser, waits for its process to end and removes its user data dir. */
  close(): Promise<void>;
}

/** Reads Chromium's stderr until it names its DevTools endpoint. */
async function devToolsEndpoint(child: Bun.Subprocess<"ignore", "ignore", "pipe">): Promise<string> {
  const reader = child.stderr.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
    if (match) {
      // Keep draining stderr so the browser never blocks on a full pipe.
      void (async () => {
        while (!(await reader.read()).done);
      })();
      return match[1]!;
    }
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  child.kill("SIGKILL");
  throw new Error(`chromium did not start:\n${text}`);
}

export async function launchChromium(): Promise<RunningChromium> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: make test installs Debian's chromium package (apt-get install -y chromium)`);
  const profile = makeTempDir("console-chromium-");
  const child = Bun.spawn([CHROMIUM, ...CHROMIUM_FLAGS, "--headless", `--user-data-dir=${profile.path}`, "--remote-debugging-port=0", "about:blank"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  try {
    const browser = await chromium.connectOverCDP(await devToolsEndpoint(child));
    return {
      browser,
      async close() {
        await browser.close().catch(() => {});
        child.kill("SIGTERM");
        await child.exited;
        await endProfile(profile);
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    await child.exited;
    await endProfile(profile);
    throw error;
  }
}

/**
 * Removes the profile once nothing of that browser is left: its helper processes (crash handler, renderers)
 * can outlive the main one and write into the profile after it was removed (a profile was once left behind that
 * way). They name the profile on their command lines.
 */
async function endProfile(profile: { path: string; cleanup(): void }): Promise<void> {
  Bun.spawnSync(["pkill", "-KILL", "-f", profile.path]);
  for (let tries = 0; tries < 50 && Bun.spawnSync(["pgrep", "-f", profile.path]).exitCode === 0; tries++) await Bun.sleep(20);
  profile.cleanup();
}
