import sys

from fswatch.cli import main

sys.exit(main())
