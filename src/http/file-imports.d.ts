// `import x from "file" with { type: "file" }` gives the path of a file embedded in the compiled binary.
declare module "*/standalone.js" {
  const path: string;
  export default path;
}
