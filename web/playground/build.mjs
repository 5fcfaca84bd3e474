// Build the playground into the Python package: one minified script (livekit-client bundled
// in, no CDN), the page and its style. Same sources and lockfile -> the same bytes.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'livekitex_cli', 'playground', 'static');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'main.js')],
  outfile: join(out, 'playground.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox115', 'safari16'],
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});
for (const name of ['index.html', 'playground.css']) {
  await copyFile(join(here, 'src', name), join(out, name));
}
console.log(`playground: built into ${out}`);
