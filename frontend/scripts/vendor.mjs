// Copies the console's browser libraries from node_modules into vendor/ and writes vendor/SHA256SUMS.
//
//   npm ci && npm run vendor          # refresh vendor/ from the lock file
//   npm ci && npm run vendor:check    # exit 1 when vendor/ differs from what the lock file gives
//
// Only ES modules without bare imports are copied, so the browser loads them as they are
// (no bundler, no import map). Relative imports of a copied module are followed and copied too.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(root, "node_modules");
const vendor = join(root, "vendor");
const MANIFEST = "SHA256SUMS";

// [file under node_modules, whether to follow its relative imports]
const ENTRIES = [
  ["htm/preact/standalone.module.js", true],
  ["htm/LICENSE", false],
  ["graphql-ws/dist/client.js", true],
  ["graphql-ws/LICENSE.md", false],
];
// Static import/export statements at the start of a line (not words inside strings).
const IMPORT = /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;

function collect() {
  const files = new Map();
  const pending = ENTRIES.map(([path, follow]) => ({ path, follow }));
  while (pending.length) {
    const { path, follow } = pending.pop();
    if (files.has(path.replace("/dist/", "/"))) continue;
    const content = readFileSync(join(modules, path));
    files.set(path.replace("/dist/", "/"), content); // "dist/" is git-ignored in this repository
    if (!follow) continue;
    for (const match of content.toString("utf8").matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2];
      if (!specifier.startsWith(".")) {
        throw new Error(`${path} imports ${specifier}: a bare import cannot load in the browser`);
      }
      pending.push({ path: posix.join(posix.dirname(path), specifier), follow: true });
    }
  }
  return files;
}

function manifest(files) {
  const lines = [...files.keys()].sort().map((path) => {
    const digest = createHash("sha256").update(files.get(path)).digest("hex");
    return `${digest}  ${path}`;
  });
  return `${lines.join("\n")}\n`;
}

function listed(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(vendor, join(entry.parentPath ?? entry.path, entry.name)).split("\\").join("/"))
    .sort();
}

const files = collect();
const expected = manifest(files);
if (process.argv.includes("--check")) {
  const wanted = [...files.keys(), MANIFEST].sort();
  const problems = [];
  let present = [];
  try {
    present = listed(vendor);
  } catch {
    problems.push("vendor/ is missing");
  }
  if (JSON.stringify(present) !== JSON.stringify(wanted)) {
    problems.push(`vendor/ holds ${present.join(", ")}; expected ${wanted.join(", ")}`);
  }
  for (const [path, content] of files) {
    try {
      if (!readFileSync(join(vendor, path)).equals(content)) problems.push(`${path} differs`);
    } catch {
      problems.push(`${path} is missing`);
    }
  }
  try {
    if (readFileSync(join(vendor, MANIFEST), "utf8") !== expected) problems.push(`${MANIFEST} differs`);
  } catch {
    problems.push(`${MANIFEST} is missing`);
  }
  if (problems.length) {
    console.error(`vendor/ is not what package-lock.json gives:\n  ${problems.join("\n  ")}`);
    console.error("run: npm ci && npm run vendor");
    process.exit(1);
  }
  console.log(`vendor/ matches package-lock.json (${files.size} files)`);
} else {
  rmSync(vendor, { recursive: true, force: true });
  for (const [path, content] of files) {
    mkdirSync(dirname(join(vendor, path)), { recursive: true });
    writeFileSync(join(vendor, path), content);
  }
  writeFileSync(join(vendor, MANIFEST), expected);
  console.log(`wrote ${files.size} files and ${MANIFEST} to vendor/`);
}
