// Vite builds the console into dist/, which the gateway embeds (go:embed)
// and serves at / under a strict Content Security Policy: no inline script
// or style, everything from 'self'.
import { defineConfig } from "vite";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true, // the build script puts back dist/.gitkeep, which go:embed needs in a fresh clone
    assetsInlineLimit: 0, // no data: URLs for assets
    modulePreload: { polyfill: false }, // the polyfill would be an inline script
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // npm run dev: the API from a running gateway (make run).
    proxy: { "/v1": "http://127.0.0.1:8080", "/openapi.json": "http://127.0.0.1:8080" },
  },
});
