import sys

from hikscan.cli import main

sys.exit(main())
