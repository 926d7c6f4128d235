// Build the console into dist/ (gitignored): dist/index.html and dist/console/{console.js,console.css}.
// Everything is bundled from node_modules (installed from package-lock.json): the page loads
// nothing from a CDN and works offline. `make setup` runs this; so does `npm run build -w clients/console`.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "console"), { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.tsx")],
  outfile: join(dist, "console", "console.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
await copyFile(join(here, "index.html"), join(dist, "index.html"));
await copyFile(join(here, "src", "styles.css"), join(dist, "console", "console.css"));
