#!/usr/bin/python3
"""Reference outputs from PIL / torchvision for test/image.test.ts.

Usage: /usr/bin/python3 tools/image_reference.py JOBS.json
JOBS.json is a list of jobs; each reads raw HWC arrays and writes raw outputs next to it:
  {"op": "resize_u8",  "in": f, "w": W, "h": H, "ow": OW, "oh": OH, "out": f}
      uint8 HWC in -> PIL RGB .resize((OW, OH), BILINEAR) -> uint8 HWC
  {"op": "resize_f32", "in": f, "w": W, "h": H, "ow": OW, "oh": OH, "out": f}
      float32 HWC in -> each channel as a PIL "F" image resized with BILINEAR -> float32 HWC
  {"op": "tv_resize",  "in": f, "w": W, "h": H, "size": S, "out": f}
      uint8 in -> torchvision.transforms.Resize(S) on the PIL image -> uint8; writes
      {"w":..,"h":..} to out + ".json"
  {"op": "tv_crop",    "in": f, "w": W, "h": H, "cw": CW, "ch": CH, "out": f}
      uint8 in -> torchvision.transforms.CenterCrop((CH, CW)) -> uint8
  {"op": "tv_preprocess", "png": path, "out": f}
      PNG file -> Resize(256), CenterCrop(224), ToTensor(), Normalize(ImageNet) -> float32 CHW
Prints one line "ok <n>" on success.
"""
import json
import sys

import numpy as np
from PIL import Image

BILINEAR = getattr(Image, "Resampling", Image).BILINEAR


def load_u8(job):
    a = np.fromfile(job["in"], dtype=np.uint8).reshape(job["h"], job["w"], 3)
    return Image.fromarray(a, "RGB")


def main():
    jobs = json.load(open(sys.argv[1]))
    tv = None
    for job in jobs:
        op = job["op"]
        if op == "resize_u8":
            out = load_u8(job).resize((job["ow"], job["oh"]), BILINEAR)
            np.asarray(out, dtype=np.uint8).tofile(job["out"])
        elif op == "resize_f32":
            a = np.fromfile(job["in"], dtype=np.float32).reshape(job["h"], job["w"], 3)
            chans = [
                np.asarray(Image.fromarray(np.ascontiguousarray(a[:, :, c]), "F").resize((job["ow"], job["oh"]), BILINEAR), dtype=np.float32)
                for c in range(3)
            ]
            np.stack(chans, axis=-1).astype(np.float32).tofile(job["out"])
        else:
            if tv is None:
                import torchvision.transforms as tv  # noqa: F811 (imported lazily: slow)
            if op == "tv_resize":
                out = tv.Resize(job["size"])(load_u8(job))
                np.asarray(out, dtype=np.uint8).tofile(job["out"])
                json.dump({"w": out.size[0], "h": out.size[1]}, open(job["out"] + ".json", "w"))
            elif op == "tv_crop":
                out = tv.CenterCrop((job["ch"], job["cw"]))(load_u8(job))
                np.asarray(out, dtype=np.uint8).tofile(job["out"])
            elif op == "tv_preprocess":
                t = tv.Compose([
                    tv.Resize(256),
                    tv.CenterCrop(224),
                    tv.ToTensor(),
                    tv.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
                ])
                x = t(Image.open(job["png"]).convert("RGB"))
                x.numpy().astype(np.float32).tofile(job["out"])
            else:
                raise SystemExit(f"image_reference.py: unknown op '{op}'")
    print(f"ok {len(jobs)}")


if __name__ == "__main__":
    main()
