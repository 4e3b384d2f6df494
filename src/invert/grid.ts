// The sweep picture: rows = layers, columns = swept values, the original image in its own
// first column (top row), labels drawn with the built-in bitmap font.

import { checkImage, createImage, resize, type Rgb, type RgbImage } from './image.ts';
import { drawText, lineHeight, textWidth, wrapText } from './bitmap-font.ts';

export interface GridOptions {
  /** cells[row][col]; null (or an image holding NaN/Infinity) is drawn as a diverged box */
  cells: (RgbImage | null)[][];
  rowLabels: string[];
  colLabels: string[];
  /** shown in an extra first column, top row, headed `originalLabel` */
  original?: RgbImage;
  originalLabel?: string;
  /** side of the square each image is fitted into (aspect kept, centered), pixels */
  cellSize: number;
  title?: string;
  /** text in the grey box of a null cell; default 'diverged' */
  missingLabel?: string;
  /** font scale; default 2 (12x18 pixels per character cell) */
  fontScale?: number;
}

const BACKGROUND: Rgb = [0.96, 0.96, 0.96];
const INK: Rgb = [0.08, 0.08, 0.08];
const MISSING_FILL: Rgb = [0.75, 0.75, 0.75];
const MISSING_CROSS: Rgb = [0.55, 0.55, 0.55];
const PAD = 10;
const GAP = 6;

export interface GridLayout {
  width: number;
  height: number;
  /** left/top pixel of cell (row, col) counting the original column as col 0 if present */
  cellX(col: number): number;
  cellY(row: number): number;
  titleY: number;
  headerY: number;
  headerH: number;
  rowLabelX: number;
}

export function makeGrid(opts: GridOptions): RgbImage {
  const layout = gridLayout(opts);
  const scale = opts.fontScale ?? 2;
  const lh = lineHeight(scale);
  const img = createImage(layout.width, layout.height, BACKGROUND);
  const hasOrig = opts.original !== undefined;
  const cs = opts.cellSize;

  if (opts.title) {
    wrapText(opts.title, layout.width - 2 * PAD, scale).forEach((line, i) =>
      drawText(img, line, PAD, layout.titleY + i * lh, scale, INK),
    );
  }

  const headers = [...(hasOrig ? [opts.originalLabel ?? 'original'] : []), ...opts.colLabels];
  headers.forEach((label, col) => {
    const lines = wrapText(label, cs, scale);
    const y0 = layout.headerY + layout.headerH - lines.length * lh; // sit on the cells
    lines.forEach((line, i) => {
      const x = layout.cellX(col) + Math.floor((cs - textWidth(line, scale)) / 2);
      drawText(img, line, x, y0 + i * lh, scale, INK);
    });
  });

  opts.rowLabels.forEach((label, row) => {
    const lines = wrapText(label, rowLabelMax(cs, scale), scale);
    const y0 = layout.cellY(row) + Math.floor((cs - lines.length * lh) / 2);
    lines.forEach((line, i) => drawText(img, line, layout.rowLabelX, y0 + i * lh, scale, INK));
  });

  if (opts.original) pasteFitted(img, opts.original, layout.cellX(0), layout.cellY(0), cs);
  const c0 = hasOrig ? 1 : 0;
  opts.cells.forEach((row, r) =>
    row.forEach((cell, c) => {
      const x = layout.cellX(c + c0), y = layout.cellY(r);
      if (cell !== null && allFinite(cell)) pasteFitted(img, cell, x, y, cs);
      else drawMissing(img, x, y, cs, opts.missingLabel ?? 'diverged', scale);
    }),
  );
  return img;
}

function rowLabelMax(cellSize: number, scale: number): number {
  return Math.max(cellSize, textWidth('features.10 ', scale));
}

export function gridLayout(opts: GridOptions): GridLayout {
  const { cells, rowLabels, colLabels, cellSize: cs } = opts;
  const scale = opts.fontScale ?? 2;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`makeGrid: fontScale must be a positive integer, got ${scale}`);
  if (!Number.isInteger(cs) || cs < 8) throw new Error(`makeGrid: cellSize must be an integer >= 8, got ${cs}`);
  if (rowLabels.length === 0) throw new Error('makeGrid: need at least one row (rowLabels is empty)');
  if (cells.length !== rowLabels.length) {
    throw new Error(`makeGrid: ${cells.length} rows of cells but ${rowLabels.length} row labels`);
  }
  cells.forEach((row, r) => {
    if (row.length !== colLabels.length) {
      throw new Error(`makeGrid: row ${r} ('${rowLabels[r]}') has ${row.length} cells but there are ${colLabels.length} column labels`);
    }
    row.forEach((cell, c) => { if (cell !== null) checkImage(cell, `makeGrid cell (${r}, ${c})`); });
  });
  if (opts.original) checkImage(opts.original, 'makeGrid original');

  const lh = lineHeight(scale);
  const hasOrig = opts.original !== undefined;
  const nCols = colLabels.length + (hasOrig ? 1 : 0);
  if (nCols === 0) throw new Error('makeGrid: no columns (no colLabels and no original)');
  const headers = [...(hasOrig ? [opts.originalLabel ?? 'original'] : []), ...colLabels];
  const headerLines = Math.max(0, ...headers.map((h) => (h === '' ? 0 : wrapText(h, cs, scale).length)));
  const headerH = headerLines * lh;
  const rowLabelW = Math.max(
    0,
    ...rowLabels.map((l) => Math.max(0, ...wrapText(l, rowLabelMax(cs, scale), scale).map((s) => textWidth(s, scale)))),
  );
  const gridX0 = PAD + rowLabelW + (rowLabelW > 0 ? GAP : 0);
  const width = gridX0 + nCols * cs + (nCols - 1) * GAP + PAD;
  const titleLines = opts.title ? wrapText(opts.title, width - 2 * PAD, scale).length : 0;
  const titleY = PAD;
  const headerY = titleY + (titleLines > 0 ? titleLines * lh + GAP : 0);
  // the font's line advance already leaves a font pixel under the last header line
  const gridY0 = headerY + headerH + (headerH > 0 ? GAP - scale : 0);
  const nRows = rowLabels.length;
  const height = gridY0 + nRows * cs + (nRows - 1) * GAP + PAD;
  return {
    width,
    height,
    cellX: (col) => gridX0 + col * (cs + GAP),
    cellY: (row) => gridY0 + row * (cs + GAP),
    titleY,
    headerY,
    headerH,
    rowLabelX: PAD,
  };
}

function allFinite(img: RgbImage): boolean {
  const d = img.data;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return false;
  return true;
}

function pasteFitted(dst: RgbImage, src: RgbImage, x0: number, y0: number, cs: number): void {
  const s = Math.min(cs / src.width, cs / src.height);
  const w = Math.max(1, Math.round(src.width * s)), h = Math.max(1, Math.round(src.height * s));
  const fit = w === src.width && h === src.height ? src : resize(src, w, h);
  const ox = x0 + Math.floor((cs - w) / 2), oy = y0 + Math.floor((cs - h) / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3, o = ((oy + y) * dst.width + ox + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = fit.data[i + c];
        dst.data[o + c] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
}

function fillRect(img: RgbImage, x0: number, y0: number, w: number, h: number, color: Rgb): void {
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = color[0];
      img.data[o + 1] = color[1];
      img.data[o + 2] = color[2];
    }
  }
}

function drawMissing(img: RgbImage, x0: number, y0: number, cs: number, label: string, scale: number): void {
  fillRect(img, x0, y0, cs, cs, MISSING_FILL);
  const t = Math.max(1, Math.round(cs / 64)); // cross stroke half-width
  for (let i = 0; i < cs; i++) {
    for (let d = -t; d <= t; d++) {
      for (const x of [i + d, cs - 1 - i + d]) {
        if (x >= 0 && x < cs) fillRect(img, x0 + x, y0 + i, 1, 1, MISSING_CROSS);
      }
    }
  }
  let s = scale;
  while (s > 1 && textWidth(label, s) > cs - 4) s--;
  const tw = textWidth(label, s);
  if (tw === 0 || tw > cs - 4) return;
  const lh = lineHeight(s);
  const tx = x0 + Math.floor((cs - tw) / 2), ty = y0 + Math.floor((cs - lh) / 2);
  fillRect(img, tx - 2 * s, ty - 2 * s, tw + 4 * s, lh + 2 * s, MISSING_FILL); // keep text clear of the cross
  drawText(img, label, tx, ty, s, INK);
}

/** Stacks pictures vertically on the grid background (rows of a figure with their own headers). */
export function stackVertically(images: RgbImage[]): RgbImage {
  if (!images.length) throw new Error('stackVertically: no images');
  const width = Math.max(...images.map((i) => i.width));
  const height = images.reduce((h, i) => h + i.height, 0);
  const out = createImage(width, height, BACKGROUND);
  let y0 = 0;
  for (const img of images) {
    for (let y = 0; y < img.height; y++) out.data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * width) * 3);
    y0 += img.height;
  }
  return out;
}
