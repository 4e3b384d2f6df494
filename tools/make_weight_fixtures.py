#!/usr/bin/python3
"""Write the tiny weight files that test/weights-*.test.ts reads.

Run with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/make_weight_fixtures.py
Everything lands in test/fixtures/weights/, plus expected.json holding every tensor's
dtype, shape and flat (row-major, contiguous) values so the tests can compare exactly.
Re-running gives the same bytes (fixed seeds and zip timestamps), except legacy.pth:
the legacy format names storages by their memory address.
"""
import collections
import io
import json
import math
import os
import pickle
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'weights')
expected = {}


def enc(v):
    # JSON has no inf/nan; the tests decode these strings.
    if isinstance(v, float):
        if math.isnan(v):
            return 'nan'
        if math.isinf(v):
            return 'inf' if v > 0 else '-inf'
    return v


def record(fname, sd):
    entry = {}
    for k, t in sd.items():
        c = t.contiguous().reshape(-1)
        if t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
            vals = [int(x) for x in c.tolist()]  # exact ints; tests round them to f32
        else:
            vals = [enc(float(x)) for x in c.double().tolist()]
        entry[k] = {'dtype': str(t.dtype).replace('torch.', ''), 'shape': list(t.shape), 'values': vals}
    expected[fname] = entry


def save(fname, sd, legacy=False):
    path = os.path.join(OUT, fname)
    if legacy:
        torch.save(sd, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(sd, path)
    record(fname, sd)


def convbn_state_dict():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(5, 2))
    with torch.no_grad():
        m[1].running_mean.copy_(torch.randn(4))
        m[1].running_var.copy_(torch.rand(4) + 0.5)
        m[1].weight.copy_(torch.randn(4))
        m[1].num_batches_tracked.fill_(7)
    return m.state_dict()


# Deterministic zip writing for the hand-made (non-torch) archives.
def write_zip(path, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w', compression=method) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)


def torch_zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(n, z.read(n)) for n in z.namelist()]


class FakeStorage:
    def __init__(self, key, numel, storage_type):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class FakeTensor:
    """Pickles like a tensor but with any offset/size/stride, to craft invalid views."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class FakePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ('storage', obj.storage_type, obj.key, 'cpu', obj.numel)
        return None


def fake_pickle(obj):
    buf = io.BytesIO()
    FakePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)

    sd = convbn_state_dict()
    save('f32_convbn.pth', sd)
    save('f32_convbn_no_nbt.pth',
         collections.OrderedDict((k, v) for k, v in sd.items() if not k.endswith('num_batches_tracked')))

    torch.manual_seed(1)
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 2.0 ** -24, 2.0 ** -14,
                            3 * 2.0 ** -20, float('inf'), float('-inf'), float('nan')], dtype=torch.float16)
    save('f16_bf16.pth', collections.OrderedDict([
        ('half', torch.randn(3, 5).half()),
        ('half_special', special),
        ('bf16', torch.randn(4, 2).bfloat16()),
        ('bf16_special', torch.tensor([0.0, -0.0, 1e38, -1e-38, float('inf'), float('nan')], dtype=torch.bfloat16)),
    ]))

    torch.manual_seed(2)
    save('f64.pth', collections.OrderedDict([
        ('w', torch.randn(2, 3, 4, dtype=torch.float64)),
        ('scalar', torch.tensor(3.141592653589793, dtype=torch.float64)),
        ('tiny', torch.tensor([1e-300, -1e300, 1e-45], dtype=torch.float64)),
    ]))

    save('ints_bool.pth', collections.OrderedDict([
        ('i64', torch.tensor([0, -1, 7, 2 ** 40 + 1, -(2 ** 62)], dtype=torch.int64)),
        ('i32', torch.tensor([[-2 ** 31, 2 ** 31 - 1], [5, -6]], dtype=torch.int32)),
        ('i16', torch.tensor([-32768, 32767, 3], dtype=torch.int16)),
        ('i8', torch.tensor([-128, 127, 0], dtype=torch.int8)),
        ('u8', torch.tensor([0, 255, 17], dtype=torch.uint8)),
        ('b', torch.tensor([True, False, True], dtype=torch.bool)),
        ('empty', torch.zeros(0, 3)),
    ]))

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    torch.manual_seed(3)
    save('views.pth', collections.OrderedDict([
        ('transposed', base.t()),
        ('strided', base[::2, 1::3]),
        ('row', base[2]),
        ('expanded', torch.randn(3, 1).expand(3, 4)),
        ('permuted', torch.arange(24, dtype=torch.float16).reshape(2, 3, 4).permute(2, 0, 1)),
    ]))

    torch.manual_seed(4)
    big = torch.randn(10)
    save('shared_storage.pth', collections.OrderedDict([
        ('a', big[0:4]), ('b', big[3:9]), ('c', big.view(2, 5)), ('d', big[9:]),
    ]))

    legacy = collections.OrderedDict(sd)
    legacy['extra.t'] = base.t()
    legacy['extra.slice'] = base[1:3, 2:]
    legacy['extra.half'] = torch.tensor([1.5, -0.25], dtype=torch.float16)
    save('legacy.pth', legacy, legacy=True)

    # safetensors, written by hand (the package is not installed here).
    torch.manual_seed(5)
    st = collections.OrderedDict([
        ('conv.weight', (torch.randn(2, 3), 'F32')),
        ('conv.bias', (torch.randn(4).half(), 'F16')),
        ('bf', (torch.randn(2, 2).bfloat16(), 'BF16')),
        ('count', (torch.tensor([3, -4, 2 ** 33], dtype=torch.int64), 'I64')),
        ('i32', (torch.tensor([-9, 8], dtype=torch.int32), 'I32')),
        ('d', (torch.tensor([0.1, -1e-200], dtype=torch.float64), 'F64')),
        ('scalar', (torch.tensor(2.5), 'F32')),
        ('u8', (torch.tensor([1, 200], dtype=torch.uint8), 'U8')),
        ('flag', (torch.tensor([False, True]), 'BOOL')),
    ])
    header = {'__metadata__': {'format': 'pt', 'note': 'hand-written'}}
    blobs, pos = [], 0
    for k, (t, dt) in st.items():
        # numpy has no bfloat16: reinterpret its bits as int16 (same bytes).
        c = t.contiguous()
        raw = (c.view(torch.int16) if t.dtype == torch.bfloat16 else c).numpy().tobytes()
        header[k] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    hjson = json.dumps(header, separators=(',', ':')).encode()
    hjson += b' ' * (-len(hjson) % 8)  # spec allows trailing spaces; aligns the data
    with open(os.path.join(OUT, 'mixed.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(hjson)) + hjson + b''.join(blobs))
    record('mixed.safetensors', collections.OrderedDict((k, t) for k, (t, _) in st.items()))

    # --- invalid files: each should be refused with a clear message ---
    f32_entries = torch_zip_entries(os.path.join(OUT, 'f32_convbn.pth'))
    write_zip(os.path.join(OUT, 'bad_deflated.pth'), f32_entries, zipfile.ZIP_DEFLATED)
    prefix = f32_entries[0][0].split('/')[0]
    write_zip(os.path.join(OUT, 'bad_big_endian.pth'), f32_entries + [(prefix + '/byteorder', b'big')])
    # A pickle that would call os.system('echo pwned') if unpickled by Python.
    evil = b'\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.'
    write_zip(os.path.join(OUT, 'bad_forbidden_global.pth'),
              [('evil/data.pkl', evil), ('evil/version', b'3\n')])
    # Tensor view reaching past the end of its storage: 10 elements asked, 4 stored.
    st4 = FakeStorage('0', 4, torch.FloatStorage)
    write_zip(os.path.join(OUT, 'bad_view_out_of_range.pth'), [
        ('archive/data.pkl', fake_pickle(collections.OrderedDict([
            ('ok', FakeTensor(st4, 0, [2, 2], [2, 1])),
            ('too_far', FakeTensor(st4, 1, [2, 3], [3, 1]))]))),
        ('archive/data/0', struct.pack('<4f', 1, 2, 3, 4)),
        ('archive/version', b'3\n'),
    ])
    # Storage entry shorter than the element count the pickle declares.
    st9 = FakeStorage('0', 9, torch.FloatStorage)
    write_zip(os.path.join(OUT, 'bad_short_storage.pth'), [
        ('archive/data.pkl', fake_pickle(collections.OrderedDict([('w', FakeTensor(st9, 0, [9], [1]))]))),
        ('archive/data/0', struct.pack('<4f', 1, 2, 3, 4)),
        ('archive/version', b'3\n'),
    ])

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=None, separators=(',', ':'))
        f.write('\n')
    for n in sorted(os.listdir(OUT)):
        print(f'{os.path.getsize(os.path.join(OUT, n)):7d}  {n}')


if __name__ == '__main__':
    main()
