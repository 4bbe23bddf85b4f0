// node build.mjs <outdir>: bundles the dashboard with esbuild's API into
// <outdir>/: src/app.js with chart.js as one minified script, src/style.css
// minified, src/index.html as is. Run by web/bundle.cmake at build time.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ? resolve(process.argv[2]) : join(here, 'dist');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src/app.js')],
  outfile: join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  legalComments: 'none',
  logLevel: 'warning',
});
await build({
  entryPoints: [join(here, 'src/style.css')],
  outfile: join(out, 'style.css'),
  minify: true,
  logLevel: 'warning',
});
await copyFile(join(here, 'src/index.html'), join(out, 'index.html'));
