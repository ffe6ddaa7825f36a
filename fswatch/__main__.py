import sys

from fswatch.surfaces.cli import main

sys.exit(main())
