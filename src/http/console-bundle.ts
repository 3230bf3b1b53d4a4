import { readFileSync } from "node:fs";

/**
 * The console's files, read and bundled by Bun when the server's own code is bundled: imported
 * `with { type: "macro" }` (see console-routes.ts), so that the page, its style and its script land in the binary
 * as strings and nothing is read or built at run time. A macro cannot call Bun.build (the bundler waits for the
 * macro), so it runs the `bun build` command of the Bun doing the bundling.
 */
export function consoleAssets(): { page: string; style: string; script: string } {
  const file = (name: string) => new URL(`../console/${name}`, import.meta.url).pathname;
  const built = Bun.spawnSync([process.execPath, "build", file("main.ts"), "--target=browser", "--format=esm", "--minify"], { stdout: "pipe", stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`bundling the console failed: ${built.stderr.toString()}`);
  return { page: readFileSync(file("index.html"), "utf8"), style: readFileSync(file("console.css"), "utf8"), script: built.stdout.toString() };
}
