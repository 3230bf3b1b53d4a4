/**
 * Where a worker thread's code is, by its file name in src/. In the compiled binary each worker is an entry
 * point of the build (package.json "compile" lists them), reached by the relative name beside the main one:
 * bytecode builds bake the source file's path into import.meta.url, which would point at a file that is not
 * on the server. From source, the file itself.
 */
export function workerEntry(file: `${string}-worker.ts`): string {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? `./${file}` : new URL(`./${file}`, import.meta.url).href;
}
