import sys

from graphforget.bench.cli import main

sys.exit(main())
