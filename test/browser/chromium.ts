// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or $HALO_CHROMIUM) driven by
// puppeteer-core, with WebGPU on (SwiftShader where there is no GPU) and the background networking a closed
// machine refuses turned off. Returns the reason as a string when there is no browser to
// launch. HALO_BROWSER_LOG=1 passes the browser's own log (crashes, GPU errors) through to stderr.
import * as fs from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** The browser binary: $HALO_CHROMIUM, else Debian's. */
export function chromiumPath(): string {
  return process.env.HALO_CHROMIUM || '/usr/bin/chromium';
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchChromium(): Promise<Browser | string> {
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) return `no browser at ${exe} (apt-get install chromium, or set HALO_CHROMIUM)`;
  // protocolTimeout 0: a page.evaluate that trains for minutes must not time out in the driver.
  return puppeteer.launch({
    executablePath: exe,
    headless: true,
    args: CHROMIUM_ARGS,
    protocolTimeout: 0,
    defaultViewport: { width: 1200, height: 900 },
    dumpio: process.env.HALO_BROWSER_LOG === '1',
  });
}
