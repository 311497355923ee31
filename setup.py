"""Ships the paper-table configs with the package: ``benchmarks/tables/*.yaml`` (the source
tree's copy, edited there) are copied into ``graphforget/reproduce/tables/`` of every built
wheel, so ``graphforget reproduce --list`` works after ``pip install graphforget``. The
project's metadata lives in ``pyproject.toml``."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTables(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "benchmarks" / "tables"
        target = Path(self.build_lib) / "graphforget" / "reproduce" / "tables"
        target.mkdir(parents=True, exist_ok=True)
        for config in sorted(source.glob("*.yaml")):
            shutil.copy2(config, target / config.name)


setup(cmdclass={"build_py": BuildWithTables})
