#!/usr/bin/env node
// Lints the Dockerfile with dockerfile-utils (the validator behind VS Code's Docker support: syntax,
// flags, instruction arguments). No Docker engine and no downloaded binary needed. Unlike its CLI,
// which passes on warnings, any finding fails here. Usage: node .ci/lint-dockerfile.mjs [file…]
import { readFileSync } from 'node:fs';
import { validate } from 'dockerfile-utils';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['Dockerfile'];
let findings = 0;
for (const file of files) {
  const diagnostics = validate(readFileSync(file, 'utf8'));
  for (const d of diagnostics) {
    // severity 1 = error, 2 = warning (LSP DiagnosticSeverity)
    const level = d.severity === 1 ? 'error' : 'warning';
    console.error(`${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${level}: ${d.message}`);
  }
  findings += diagnostics.length;
}
if (findings > 0) {
  console.error(`lint:dockerfile: ${findings} finding(s)`);
  process.exit(1);
}
console.log(`lint:dockerfile: ${files.join(', ')} clean`);
