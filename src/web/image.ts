// Browser side: images in and out through the DOM (createImageBitmap, canvas).
import { createImage, type RgbImage } from '../invert/image.ts';

/** Decodes a PNG/JPEG/any browser-supported image to RGB in [0, 1] (alpha composited over white). */
export async function decodeImageBlob(blob: Blob, name = 'image'): Promise<RgbImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (e) {
    throw new Error(`cannot read image '${name}': ${(e as Error).message || 'not an image the browser can decode'}`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, 0, 0);
  const px = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const img = createImage(bitmap.width, bitmap.height);
  for (let i = 0; i < bitmap.width * bitmap.height; i++) for (let c = 0; c < 3; c++) img.data[i * 3 + c] = px[i * 4 + c] / 255;
  bitmap.close();
  return img;
}

/** Draws an RGB [0, 1] image into a canvas (resizing the canvas to the image). */
export function drawImage(canvas: HTMLCanvasElement, img: RgbImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(img.width, img.height);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) data.data[i * 4 + c] = Math.round(Math.min(1, Math.max(0, img.data[i * 3 + c])) * 255);
    data.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
}
