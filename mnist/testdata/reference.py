"""Independent reads of IDX files for lenetkit/mnist's tests: Python's gzip
module, numpy and torchvision, none of lenetkit's code.

  reference.py labels PATH N     first N labels, space-separated
  reference.py digest PATH       SHA-256 of the data after the IDX header
  reference.py tensors PATH I... ToTensor() then Pad(2) of images I..., as
                                 little-endian float32 on stdout
"""
import gzip
import hashlib
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        b = f.read()
    if b[:2] == b"\x1f\x8b":
        b = gzip.decompress(b)
    ndim = b[3]
    dims = struct.unpack(">%dI" % ndim, b[4 : 4 + 4 * ndim])
    return dims, b[4 + 4 * ndim :]


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    dims, data = read(path)
    if cmd == "labels":
        print(" ".join(str(v) for v in data[: int(sys.argv[3])]))
    elif cmd == "digest":
        print(hashlib.sha256(data).hexdigest())
    elif cmd == "tensors":
        import numpy as np
        from PIL import Image
        from torchvision import transforms

        n, rows, cols = dims
        images = np.frombuffer(data, dtype=np.uint8).reshape(n, rows, cols)
        tf = transforms.Compose([transforms.ToTensor(), transforms.Pad(2)])
        for i in sys.argv[3:]:
            # As torchvision.datasets.MNIST.__getitem__ hands an image to
            # its transform.
            img = Image.fromarray(images[int(i)], mode="L")
            sys.stdout.buffer.write(tf(img).numpy().astype("<f4").tobytes())
    else:
        sys.exit("unknown command " + cmd)


main()
