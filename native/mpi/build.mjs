#!/usr/bin/env node
// Builds the optional Open MPI binding (native/mpi/build/Release/halo_mpi.node) with node-gyp. Run by
// `npm install` after the main addon. Without Open MPI (`apt-get install libopenmpi-dev openmpi-bin`) this
// prints ONE line and exits 0: single-process training needs nothing from MPI. HALO_REQUIRE_MPI=1 (CI) makes
// a failed build an error with the compiler output. Separate from native/build.mjs so MPI can never break
// the main addon.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypRebuild } from '../node-gyp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.env.HALO_REQUIRE_MPI === '1';

function fail(reason, output = '') {
  if (strict) {
    if (output) process.stderr.write(output);
    process.stderr.write(`halo: MPI binding build failed (${reason}); HALO_REQUIRE_MPI=1, so this is an error\n`);
    process.exit(1);
  }
  process.stderr.write(`halo: note: MPI binding not built (${reason}); multi-process training (mpirun) is unavailable\n`);
  process.exit(0);
}

const probe = spawnSync('mpicc', ['--showme'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) fail('mpicc not found: apt-get install libopenmpi-dev openmpi-bin');
const failure = nodeGypRebuild(here, 'halo_mpi.node');
if (failure) fail(failure.reason, failure.output);
process.stdout.write('halo: MPI binding built (native/mpi/build/Release/halo_mpi.node)\n');
