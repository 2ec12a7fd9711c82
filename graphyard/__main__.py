import sys

from graphyard.cli import main

sys.exit(main())
