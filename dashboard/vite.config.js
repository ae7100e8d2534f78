// Builds the dashboard into dist/ as plain static files; the CMake build
// embeds them into the gateway. No dev-server proxy is needed: the page only
// talks to the origin it was served from.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Every asset ends up as a file in the gateway binary; inlining small
    // ones as data: URLs would only make them harder to cache.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
    target: 'es2022',
  },
});
