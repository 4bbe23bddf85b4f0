// Parses every *.tf file of a directory with HashiCorp's HCL parser
// (@cdktf/hcl2json, compiled to WebAssembly) and prints one JSON object,
// { "file.tf": parsed tree, ... }, on stdout.
//
// usage: node hcl2json.mjs DIR
// Exit 0 when every file parsed, 1 when one did not (file and parser
// message on stderr), 2 on bad usage, 3 when @cdktf/hcl2json is not
// installed in tests/deploy (`make deps`).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

async function loadParser() {
  try {
    return (await import('@cdktf/hcl2json')).parse;
  } catch (error) {
    process.stderr.write(`@cdktf/hcl2json is not installed in tests/deploy: run make deps (${error.message})\n`);
    process.exit(3);
  }
}

async function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write('usage: node hcl2json.mjs DIR\n');
    return 2;
  }
  const parse = await loadParser();
  const dir = argv[0];
  const files = readdirSync(dir).filter((name) => name.endsWith('.tf')).sort();
  const trees = {};
  for (const name of files) {
    try {
      trees[name] = await parse(name, readFileSync(path.join(dir, name), 'utf8'));
    } catch (error) {
      process.stderr.write(`${name}: ${error.message ?? error}\n`);
      return 1;
    }
  }
  process.stdout.write(JSON.stringify(trees));
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
