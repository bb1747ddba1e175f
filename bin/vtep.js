#!/usr/bin/env node
// The `vtep` command: the CLI lives in dist/src/cli (built by `npm install`).
// A closed pipe (vtep decap --json | head) ends the output quietly, as other tools do.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(0); throw err; });
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err && err.stack ? err.stack : String(err)); process.exitCode = 1; },
);
