import sys

from blurbench.cli import main

sys.exit(main())
