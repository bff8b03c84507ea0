"""Generates the gRPC code from hilserl/distributed/proto/*.proto when the package is built or
installed (editable installs included); everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROTO_DIR = Path("hilserl/distributed/proto")


def generate_grpc_code() -> None:
    from grpc_tools import protoc

    for proto in sorted(PROTO_DIR.glob("*.proto")):
        args = ["grpc_tools.protoc", "-I.", "--python_out=.", "--grpc_python_out=.", str(proto)]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto}")


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        generate_grpc_code()
        super().run()


setup(cmdclass={"build_py": BuildPyWithProtos})
