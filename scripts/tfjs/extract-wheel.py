"""Extracts what tfjs-node's binding needs from a TensorFlow CPU wheel.

Usage: python3 extract-wheel.py WHEEL DEPS_DIR

Writes DEPS_DIR/lib/{libtensorflow_cc.so.2, libtensorflow_framework.so.2} and the C API headers
(tensorflow/c/**, the ctstring headers they include) under DEPS_DIR/include. Only the members
needed are read, so the ~270 MB wheel is never unpacked whole.
"""

import os
import shutil
import sys
import zipfile

LIBS = ("tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2")
# Header folders the C API (c_api.h, eager/c_api.h) and tfjs-node's binding include, transitively.
HEADER_PREFIXES = (
    "tensorflow/include/tensorflow/c/",
    "tensorflow/include/tensorflow/core/platform/ctstring",
    "tensorflow/include/tsl/platform/ctstring",
    "tensorflow/include/xla/tsl/c/",
)


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: extract-wheel.py WHEEL DEPS_DIR", file=sys.stderr)
        return 2
    wheel, deps = sys.argv[1], sys.argv[2]
    lib_dir = os.path.join(deps, "lib")
    inc_dir = os.path.join(deps, "include")
    os.makedirs(lib_dir, exist_ok=True)
    os.makedirs(inc_dir, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for lib in LIBS:
            if lib not in names:
                print(f"extract-wheel: {wheel} has no {lib}", file=sys.stderr)
                return 1
            target = os.path.join(lib_dir, os.path.basename(lib))
            tmp = target + ".part"
            with z.open(lib) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        count = 0
        for name in names:
            if name.endswith("/") or not name.startswith(HEADER_PREFIXES):
                continue
            rel = name[len("tensorflow/include/"):]
            target = os.path.join(inc_dir, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
        if not os.path.exists(os.path.join(inc_dir, "tensorflow/c/eager/c_api.h")):
            print(f"extract-wheel: {wheel} has no C API headers", file=sys.stderr)
            return 1
    print(f"extract-wheel: 2 libraries, {count} headers -> {deps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
