// A dependency-free SVG line chart for reports (loss curves): several named series of (x, y) points,
// linear axes with round tick values, a legend. Readable in any browser and on GitHub.
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function lineChartSvg(series: readonly Series[], opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 420;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const [x0, x1] = niceRange(pts.map((p) => p[0]));
  const [y0, y1] = niceRange(pts.map((p) => p[1]));
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    out.push(
      `<line x1="${sx(t)}" y1="${H - m.b}" x2="${sx(t)}" y2="${m.t}" stroke="#eee"/>`,
      `<text x="${sx(t)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of ticks(y0, y1)) {
    out.push(
      `<line x1="${m.l}" y1="${sy(t)}" x2="${W - m.r}" y2="${sy(t)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${m.l}" y2="${m.t}" stroke="#333"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join('');
    out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    const ly = m.t + 8 + i * 16;
    out.push(
      `<line x1="${W - m.r - 170}" y1="${ly}" x2="${W - m.r - 150}" y2="${ly}" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${W - m.r - 145}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

function niceRange(v: number[]): [number, number] {
  if (v.length === 0) return [0, 1];
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

function ticks(lo: number, hi: number): number[] {
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / 5)));
  const mult = [1, 2, 5, 10].find((k) => (hi - lo) / (k * step) <= 6) ?? 10;
  const s = mult * step;
  const out: number[] = [];
  for (let t = Math.ceil(lo / s) * s; t <= hi; t += s) out.push(Number(t.toPrecision(12)));
  return out;
}

const fmt = (t: number) => (Math.abs(t) >= 1000 || Number.isInteger(t) ? String(Math.round(t)) : t.toPrecision(3));
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
