// The library runs in browsers as well as Node >= 20: the built files use only web-platform
// APIs (fetch, streams, AbortController, TextDecoder, crypto.randomUUID), never a Node module,
// Buffer, or an unguarded `process`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

function jsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  );
}

test('dist uses no Node-only API', () => {
  const files = jsFiles(DIST);
  assert.ok(files.length >= 10, `${files.length} files in dist`);
  for (const file of files) {
    const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    assert.doesNotMatch(code, /from ['"]node:|require\(|import\(['"](fs|path|http|https|crypto|os)['"]\)/, file);
    assert.doesNotMatch(code, /\bBuffer\b/, file);
    for (const m of code.matchAll(/\bprocess\b/g)) {
      const line = code.slice(code.lastIndexOf('\n', m.index) + 1, code.indexOf('\n', m.index));
      assert.match(line, /globalThis|\?\./, `unguarded process in ${file}: ${line.trim()}`);
    }
  }
});

test('package.json: ESM with types, Node >= 20, pinned dev dependencies, no runtime dependencies', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.name, '@operator/sdk');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].types, './dist/index.d.ts');
  assert.equal(pkg.engines.node, '>=20');
  assert.equal(pkg.dependencies, undefined);
  for (const [name, version] of Object.entries(pkg.devDependencies)) assert.match(version, /^\d+\.\d+\.\d+$/, name);
  assert.equal(pkg.devDependencies.ai, '5.0.277');
});
