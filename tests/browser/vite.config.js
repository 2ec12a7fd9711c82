// Built once per test session by tests/test_browser.py; served from dist/ on its own origin.
import { defineConfig } from "vite";

export default defineConfig({
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // One bundle for one test page: its size does not matter.
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      onwarn(warning, warn) {
        // The SDK's React modules start with "use client", which only frameworks with server
        // components read; a plain bundle drops it, as intended.
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
});
