// A self-contained report.html for a run: the grid with captions, a loss curve per cell as
// inline SVG, the metrics table, the adapter and whether the weights were pretrained or
// random. Portable: images come in as base64 PNG strings.
import type { InversionMetrics, LossPoint } from './inversion.ts';

export interface CellReport {
  id: string;
  layer: string;
  /** e.g. "lambda-alpha=1e-5"; empty when nothing is swept. */
  column: string;
  status: 'done' | 'diverged' | 'failed' | 'pending';
  message?: string;
  divergedAt?: number;
  pngBase64?: string;
  history: LossPoint[];
  metrics?: InversionMetrics;
  settings: Record<string, unknown>;
}

export interface RunReport {
  title: string;
  command: string;
  model: string;
  weights: { kind: string; description: string };
  adapter: string;
  image: string;
  preset: string;
  gridPngBase64?: string;
  originalPngBase64?: string;
  cells: CellReport[];
  startedAt: string;
  finishedAt: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (v: number | undefined, digits = 4) => (v === undefined || !Number.isFinite(v) ? '–' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(digits - 1) : v.toPrecision(digits));

/** Loss curves (total and feature term, log scale) as a small inline SVG. */
export function lossCurveSvg(history: LossPoint[], width = 260, height = 120): string {
  const series: { key: 'total' | 'feature'; color: string }[] = [{ key: 'total', color: '#1f5fbf' }, { key: 'feature', color: '#d9480f' }];
  const pts = history.filter((p) => p.total > 0 && p.feature > 0 && Number.isFinite(p.total));
  if (pts.length < 2) return `<svg width="${width}" height="${height}" role="img" aria-label="no loss curve"><text x="8" y="20" font-size="11">not enough readbacks</text></svg>`;
  const xs = pts.map((p) => p.iteration);
  const ys = pts.flatMap((p) => [Math.log10(p.total), Math.log10(p.feature)]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const L = 38, R = 6, T = 8, B = 20;
  const sx = (x: number) => L + ((x - x0) / Math.max(1, x1 - x0)) * (width - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (height - T - B);
  const lines = series.map((s) => {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.iteration).toFixed(1)},${sy(Math.log10(p[s.key])).toFixed(1)}`).join('');
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
  });
  const ticks = [y0, (y0 + y1) / 2, y1].map((y) => `<text x="${L - 4}" y="${sy(y) + 3}" font-size="9" text-anchor="end">${num(10 ** y, 2)}</text>`);
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="loss curve">
<rect x="${L}" y="${T}" width="${width - L - R}" height="${height - T - B}" fill="#fafafa" stroke="#ccc"/>
${lines.join('\n')}${ticks.join('')}
<text x="${L}" y="${height - 6}" font-size="9">${x0}</text><text x="${width - R}" y="${height - 6}" font-size="9" text-anchor="end">iteration ${x1}</text>
<text x="${width - R - 4}" y="${T + 10}" font-size="9" fill="#1f5fbf" text-anchor="end">total</text><text x="${width - R - 4}" y="${T + 20}" font-size="9" fill="#d9480f" text-anchor="end">feature (log scale)</text>
</svg>`;
}

export function renderReport(r: RunReport): string {
  const random = r.weights.kind === 'random';
  const banner = random
    ? `<div class="banner">RANDOM WEIGHTS — these inversions use a seeded random ${esc(r.model)}, not torchvision's pretrained weights. ${esc(r.weights.description)}</div>`
    : '';
  const rows = r.cells.map((c) => {
    const m = c.metrics;
    return `<tr class="${c.status}"><td>${esc(c.layer)}</td><td>${esc(c.column || '—')}</td><td>${c.status}${c.divergedAt !== undefined ? ` at ${c.divergedAt}` : ''}${c.message ? `: ${esc(c.message)}` : ''}</td>
<td>${num(m?.featureError)}</td><td>${num(m?.psnr, 3)}</td><td>${num(m?.ssim, 3)}</td><td>${m ? (m.secondsPerIteration * 1000).toFixed(1) : '–'}</td><td>${m?.iterations ?? '–'}</td><td>${m ? m.warmupSeconds.toFixed(2) : '–'}</td></tr>`;
  }).join('\n');
  const cards = r.cells.map((c) => `<figure class="cell ${c.status}">
${c.pngBase64 ? `<img src="data:image/png;base64,${c.pngBase64}" alt="${esc(c.layer)} ${esc(c.column)}" width="160" height="160">` : `<div class="missing">${c.status}</div>`}
<figcaption><b>${esc(c.layer)}</b>${c.column ? ` · ${esc(c.column)}` : ''}<br>${c.metrics ? `feature error ${num(c.metrics.featureError)}, PSNR ${num(c.metrics.psnr, 3)} dB, SSIM ${num(c.metrics.ssim, 3)}` : esc(c.message ?? c.status)}</figcaption>
${lossCurveSvg(c.history)}
</figure>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
.banner{background:#b00020;color:#fff;padding:10px 14px;font-weight:600;margin:12px 0;border-radius:4px}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
tr.diverged td,tr.failed td{background:#fde8e8}
.cells{display:flex;flex-wrap:wrap;gap:14px}.cell{margin:0;width:260px}.cell img{image-rendering:pixelated;display:block}
.missing{width:160px;height:160px;background:#ddd;display:flex;align-items:center;justify-content:center}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}
.grid img{max-width:100%}
</style></head><body>
<h1>${esc(r.title)}</h1>
${banner}
<dl><dt>model</dt><dd>${esc(r.model)} (${random ? '<b>random weights</b>' : esc(r.weights.kind)}: ${esc(r.weights.description)})</dd>
<dt>image</dt><dd>${esc(r.image)}</dd><dt>preset</dt><dd>${esc(r.preset)}</dd>
<dt>adapter</dt><dd>${esc(r.adapter)}</dd><dt>command</dt><dd><code>${esc(r.command)}</code></dd>
<dt>run</dt><dd>${esc(r.startedAt)} – ${esc(r.finishedAt)}</dd></dl>
${r.gridPngBase64 ? `<h2>Grid</h2><div class="grid"><img src="data:image/png;base64,${r.gridPngBase64}" alt="grid: original first, rows are layers, columns are swept values"></div>` : ''}
<h2>Metrics</h2>
<table><thead><tr><th>layer</th><th>setting</th><th>status</th><th>feature error ‖Φ(x)−Φ0‖²/‖Φ0‖²</th><th>PSNR (dB)</th><th>SSIM</th><th>ms / iteration</th><th>iterations</th><th>warm-up (s)</th></tr></thead>
<tbody>${rows}</tbody></table>
<p>PSNR and SSIM compare each result (clipped to [0, 1]) with the preprocessed original.</p>
<h2>Cells</h2><div class="cells">${cards}</div>
</body></html>
`;
}
