// openapi-typescript's command line (bin/cli.js, single file in, -o file out, no other flag) over several
// documents in one Node.js process: `node --import ./use-typescript5.mjs generate.mjs IN OUT [IN OUT ...]`.
// Each output is what `cli.js IN -o OUT` writes (same config lookup, same options, same header); starting Node.js
// and loading TypeScript 5 and Redocly once instead of once per document is what this saves.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createConfig, findConfig, loadConfig } from "@redocly/openapi-core";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2 !== 0) {
  console.error("usage: generate.mjs IN OUT [IN OUT ...]");
  process.exit(2);
}
// As cli.js without --redocly: a redocly.yaml found from the working directory, else the "minimal" rules.
const configPath = findConfig();
const redocly = configPath ? await loadConfig({ configPath }) : await createConfig({}, { extends: ["minimal"] });
for (let index = 0; index < args.length; index += 2) {
  const input = pathToFileURL(resolve(args[index]));
  const output = resolve(args[index + 1]);
  writeFileSync(output, `${COMMENT_HEADER}${astToString(await openapiTS(input, { redocly, silent: false }))}`, "utf8");
}
