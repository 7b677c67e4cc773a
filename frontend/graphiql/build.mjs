// Build GraphiQL into dist/: the page (index.html, served at /graphql) and the files it loads
// (dist/assets/, served at /graphiql/), so the app needs no Node and no CDN at run time.
//   npm ci && npm run build   (then commit dist/, manifest.json included)
// The output depends only on package-lock.json, this script and src/: the same inputs give the
// same bytes. dist/manifest.json lists every file's sha256 and the sha256 of those inputs, so
// the Python tests can tell when dist/ is stale or edited by hand.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import * as esbuild from "esbuild";

const here = import.meta.dirname;
const dist = join(here, "dist");
const assets = join(dist, "assets");
const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2022",
  legalComments: "external",
  charset: "utf8",
  logLevel: "warning",
  absWorkingDir: here,
  define: { "process.env.NODE_ENV": '"production"' },
};

rmSync(dist, { recursive: true, force: true });
await esbuild.build({
  ...common,
  entryPoints: { graphiql: "src/graphiql.jsx" },
  outdir: assets,
  jsx: "automatic",
  loader: { ".ttf": "file" },
  assetNames: "[name]-[hash]",
});
await esbuild.build({
  ...common,
  entryPoints: {
    "editor.worker": "monaco-editor/esm/vs/editor/editor.worker.js",
    "json.worker": "monaco-editor/esm/vs/language/json/json.worker.js",
    "graphql.worker": "monaco-graphql/esm/graphql.worker.js",
  },
  outdir: join(assets, "workers"),
});
// GraphiQL's stylesheet embeds its fonts as data: URLs; the CSP allows fonts from 'self' only,
// so each becomes a file of its own next to the stylesheet.
const fontTypes = {
  "font/woff2": "woff2",
  "font/woff": "woff",
  "font/ttf": "ttf",
  "font/otf": "otf",
};
const stylesheet = join(assets, "graphiql.css");
mkdirSync(join(assets, "fonts"), { recursive: true });
writeFileSync(
  stylesheet,
  readFileSync(stylesheet, "utf8").replace(
    /url\(\s*(["']?)data:(font\/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)\1\s*\)/g,
    (_match, _quote, type, data) => {
      const bytes = Buffer.from(data, "base64");
      const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
      const name = `fonts/${digest}.${fontTypes[type] ?? "font"}`;
      writeFileSync(join(assets, name), bytes);
      return `url(${name})`;
    },
  ),
);
copyFileSync(join(here, "src", "index.html"), join(dist, "index.html"));
copyFileSync(join(here, "src", "page.css"), join(assets, "page.css"));

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
const relativeSorted = (paths, base) => paths.map((path) => relative(base, path)).sort();

const inputs = [
  "package.json",
  "package-lock.json",
  "build.mjs",
  ...relativeSorted(walk(join(here, "src")), here),
];
const digests = (names, base) =>
  Object.fromEntries(names.map((name) => [name, sha256(join(base, name))]));
const manifest = {
  graphiql: JSON.parse(readFileSync(join(here, "node_modules/graphiql/package.json"))).version,
  inputs: digests(inputs, here),
  files: digests(relativeSorted(walk(dist), dist), dist),
};
writeFileSync(join(dist, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
const count = Object.keys(manifest.files).length;
console.log(`built ${count} files into ${relative(process.cwd(), dist)}`);
