"""Build steps pyproject.toml cannot declare: the optional C accelerator, the embedded policy.

- ``sipguard.sip._accel`` (sources in ``sipguard/sip/accel_c/``) is optional: without a C
  compiler the build goes on and the pure-Python parser runs alone (``sipguard.sip.accel``
  tells which).
- The embedded default policy travels inside the wheel as ``sipguard/_policies/default.toml``;
  ``sipguard/config/load.py`` looks for that copy first and falls back to
  ``policies/default.toml`` (an editable install reads the checkout's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


class BuildWithPolicy(build_py):
    """build_py, plus the default policy copied into the package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "sipguard" / "_policies"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path("policies") / "default.toml", target / "default.toml")


setup(
    cmdclass={"build_py": BuildWithPolicy},
    ext_modules=[
        Extension(
            "sipguard.sip._accel",
            sorted(str(path) for path in Path("sipguard/sip/accel_c").glob("*.c")),
            depends=["sipguard/sip/accel_c/accel.h"],
            optional=True,
            extra_compile_args=[
                "-O2",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
                "-fvisibility=hidden",  # only PyInit__accel is exported
            ],
        )
    ],
)
