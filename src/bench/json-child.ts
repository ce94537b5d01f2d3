// Benchmarks that must not share a process (a fresh heap per configuration, or PyTorch beside Node) run a
// child that prints its result as the last line of stdout, one JSON object; stderr passes through.
import { spawn } from 'node:child_process';

/**
 * Runs `command args` and parses the last stdout line as JSON.
 * @param what names the child in the error when it fails or prints no JSON line
 */
export function runJsonChild<T>(command: string, args: readonly string[], env: NodeJS.ProcessEnv, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        // Not a HaloError: the child already printed its own error on the inherited stderr.
        reject(new Error(`${what} exited with code ${code}${out ? `: ${out.slice(-500)}` : ''}`));
        return;
      }
      resolve(JSON.parse(line) as T);
    });
  });
}
