#!/usr/bin/env node
// Builds the native addon (native/build/Release/halo_native.node) with node-gyp. Run by `npm install`.
// The addon is optional: if the build fails (no C++ compiler, no oneDNN headers — `apt-get install
// libdnnl-dev`), this prints ONE warning line and exits 0, and halo runs on the TypeScript reference
// backend. With HALO_REQUIRE_NATIVE=1 (CI) a failed build exits 1 and shows the compiler output.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypRebuild } from './node-gyp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.env.HALO_REQUIRE_NATIVE === '1';

function fail(reason, output = '') {
  if (strict) {
    if (output) process.stderr.write(output);
    process.stderr.write(`halo: native addon build failed (${reason}); HALO_REQUIRE_NATIVE=1, so this is an error\n`);
    process.exit(1);
  }
  process.stderr.write(`halo: warning: native addon not built (${reason}); using the slower TypeScript reference backend\n`);
  process.exit(0);
}

if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && !existsSync('/usr/include/dnnl.hpp')) {
  fail('oneDNN headers missing: apt-get install libdnnl-dev');
}
const failure = nodeGypRebuild(here, 'halo_native.node', [`--jobs=${process.env.JOBS ?? 'max'}`]);
if (failure) fail(failure.reason, failure.output);
process.stdout.write('halo: native addon built (native/build/Release/halo_native.node)\n');
