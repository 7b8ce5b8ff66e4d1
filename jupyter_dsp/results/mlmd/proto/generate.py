"""Remake ``descriptors.binpb`` from the .proto files beside it with grpcio-tools' protoc (a
development tool: ``pip install grpcio-tools``; nothing imports this module at run time).

    python -m jupyter_dsp.results.mlmd.proto.generate [--check]

``--check`` writes nothing and exits 1 when the checked-in file differs from what protoc makes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

from jupyter_dsp.results.mlmd.proto import DESCRIPTORS, HERE, PROTO_FILES


def compile_descriptors() -> bytes:
    """The ``FileDescriptorSet`` protoc makes of the .proto files (no source info, no imports:
    the well-known types come from the protobuf runtime)."""
    from grpc_tools import protoc  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory(prefix="mlmd-proto-") as tmp:
        out = Path(tmp) / "descriptors.binpb"
        wkt = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto of grpcio-tools
        argv = ["protoc", f"-I{HERE}", f"-I{wkt}", f"--descriptor_set_out={out}", *PROTO_FILES]
        if protoc.main(argv) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(argv)}")
        return out.read_bytes()


def same(a: bytes, b: bytes) -> bool:
    parse = descriptor_pb2.FileDescriptorSet.FromString
    return parse(a) == parse(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    made = compile_descriptors()
    if args.check:
        ok = DESCRIPTORS.exists() and same(DESCRIPTORS.read_bytes(), made)
        print(f"{DESCRIPTORS.name}: {'matches' if ok else 'DIFFERS FROM'} the .proto files")
        return 0 if ok else 1
    DESCRIPTORS.write_bytes(made)
    print(f"wrote {DESCRIPTORS} ({len(made)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
