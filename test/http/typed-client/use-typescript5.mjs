// openapi-typescript needs TypeScript's JavaScript API, which TypeScript 7 (the project's compiler) no longer
// has: under `node --import` this sends its `import "typescript"` to the typescript5 package instead.
import { register } from "node:module";

register("data:text/javascript," + encodeURIComponent('export async function resolve(specifier, context, next) { return next(specifier === "typescript" ? "typescript5" : specifier, context); }'));
