// Preloaded into a child process (`node --import …/report-usage.mjs …`) by tests that bound what a command
// may cost: at exit it writes process.resourceUsage() (peak RSS, CPU time) as JSON to $HALO_USAGE_FILE.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.HALO_USAGE_FILE) writeFileSync(process.env.HALO_USAGE_FILE, JSON.stringify(process.resourceUsage()));
});
