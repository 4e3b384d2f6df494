#!/usr/bin/python3
"""Reference SSIM / PSNR for test/metrics.test.ts when scikit-image is not installed.

A numpy transcription of skimage.metrics.structural_similarity(im1, im2, channel_axis=-1,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1) (skimage
0.19-0.22): per channel, five scipy.ndimage.gaussian_filter(sigma, truncate=3.5,
mode='reflect') moments, the SSIM map, the border of (win_size-1)//2 cropped, the mean,
then the mean over channels. scipy's 'reflect' is numpy's 'symmetric' padding.
If skimage is importable it is used as well and both numbers are printed.

Usage: /usr/bin/python3 tools/ssim_ref.py JOBS.json
  JOBS.json: [{"a": f32 HWC raw, "b": f32 HWC raw, "w": W, "h": H}, ...]
Prints a JSON list of {"ssim": s, "psnr": p, "ssim_skimage": s or null}.
"""
import json
import sys

import numpy as np


def gaussian_filter(img, sigma, truncate=3.5):
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 / sigma**2 * x**2)
    k /= k.sum()
    p = np.pad(img, r, mode="symmetric")
    # correlate along rows then columns (the kernel is symmetric)
    h = sum(k[i] * p[:, i:i + img.shape[1]] for i in range(2 * r + 1))
    return sum(k[i] * h[i:i + img.shape[0], :] for i in range(2 * r + 1))


def ssim_channel(x, y, sigma=1.5, k1=0.01, k2=0.03, data_range=1.0):
    truncate = 3.5
    r = int(truncate * sigma + 0.5)
    win = 2 * r + 1
    ux, uy = gaussian_filter(x, sigma), gaussian_filter(y, sigma)
    uxx, uyy, uxy = gaussian_filter(x * x, sigma), gaussian_filter(y * y, sigma), gaussian_filter(x * y, sigma)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return s[pad:-pad, pad:-pad].mean(dtype=np.float64)


def main():
    jobs = json.load(open(sys.argv[1]))
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        structural_similarity = None
    out = []
    for j in jobs:
        a = np.fromfile(j["a"], dtype=np.float32).reshape(j["h"], j["w"], 3).astype(np.float64)
        b = np.fromfile(j["b"], dtype=np.float32).reshape(j["h"], j["w"], 3).astype(np.float64)
        s = float(np.mean([ssim_channel(a[:, :, c], b[:, :, c]) for c in range(3)]))
        m = float(np.mean((a - b) ** 2))
        p = float("inf") if m == 0 else float(10 * np.log10(1.0 / m))
        sk = None
        if structural_similarity is not None:
            sk = float(structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=1))
        out.append({"ssim": s, "psnr": p if np.isfinite(p) else None, "ssim_skimage": sk})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
